"""`warroom bench-web`: event -> visible on the wall, and SSE fan-out, on a real server.

Latency is measured from the moment the batch that makes a window final was due (the
load is offered open loop, on a schedule) to the moment the browser (Debian's Chromium,
driven by Playwright) renders a frame holding that window; both clocks are this
machine's. A window is final once event time passes its end
plus the lateness, so each batch here carries the next second of event time: batch k
(event second s_k) finalises the window s_k - lateness - 1 s. Printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl

from warroom.browser import CHROMIUM, HEADLESS_ARGS

T0 = 1_762_790_400_000
RATES = {"base": "CNY", "rates": {"CNY": 1, "USD": 7.1556}}
ARGS = list(HEADLESS_ARGS)
SENDERS = 16  # connections the load generator may have in flight at once
REGIONS = ("CN-GD", "CN-ZJ", "CN-JS", "CN-SH", "CN-BJ", "US-CA")


def batch(k: int, n: int) -> bytes:
    """n order lines in event second k. Written by polars: formatting them line by line
    in Python took the load generator most of a core at 100,000 records/s, a core the
    server under test then did not have."""
    i = pl.int_range(n, eager=True)
    frame = pl.DataFrame({"i": i}).select(
        type=pl.lit("order"),
        id=pl.lit(f"b{k}-") + pl.col("i").cast(pl.String),
        ts=T0 + k * 1000 + pl.col("i") % 1000,
        order_id=pl.lit(f"O{k}-") + pl.col("i").cast(pl.String),
        user_id=pl.lit("u") + (pl.col("i") % 5000).cast(pl.String),
        merchant_id=pl.lit("m") + (pl.col("i") % 50).cast(pl.String),
        item_id=pl.lit("i1"),
        sku_id=pl.lit("s1"),
        category=pl.lit("c") + (pl.col("i") % 12).cast(pl.String),
        region=pl.lit(pl.Series(REGIONS)).gather(pl.col("i") % len(REGIONS)),
        country=pl.lit("CN"),
        channel=pl.lit("app"),
        quantity=pl.lit(1),
        unit_price=pl.lit(19.9),
        currency=pl.lit("CNY"),
    )
    return frame.write_ndjson().encode()


class Server:
    def __init__(self, port: int, tick: float) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="warroom-bench-"))
        (self.dir / "rates.json").write_text(json.dumps(RATES))
        self.url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            "-m",
            "warroom.cli",
            "serve",
            "--data",
            str(self.dir / "state"),
            "--port",
            str(port),
            "--open",
            "--tick",
            str(tick),
            "--rates",
            str(self.dir / "rates.json"),
            "--ingest-rate",
            "1e9",
            "--max-body",
            str(64 << 20),
        ]
        self.log = (self.dir / "server.log").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        from warroom.auth.tokens import TokenStore
        from warroom.store.db import Store

        self.token = TokenStore(Store.open(self.dir / "state").engine).create(role="ingest")[0]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def load(
    server: Server, rate: int, seconds: float, batch_records: int, senders: int = SENDERS
) -> dict[str, Any]:
    """Offer `rate` records/s for `seconds`, open loop: batch k is due at start + k/per_second
    whether or not earlier batches were acknowledged, and goes out as soon as one of the
    `senders` connections is free. A batch not sent by the end of the offered time is
    not sent at all (the server did not keep up). `due_ms`: when each acknowledged batch
    was due; latency is counted from then, not from when it could be sent, so a server that
    falls behind shows it (no coordinated omission)."""
    per_second = max(1, rate // batch_records)
    total = int(per_second * seconds)
    start = time.time() + 0.5  # the first batch is due once the senders are ready
    due = [start + k / per_second for k in range(total)]
    pending: queue.Queue[int | None] = queue.Queue()
    lag: list[float] = []  # seconds each batch went out after it was due
    acked: dict[int, float] = {}  # k -> when its acknowledgement came
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {server.token}"}

    def sender() -> None:
        with httpx.Client(timeout=120) as client:
            while (k := pending.get()) is not None:
                body = batch(k, batch_records)
                now = time.time()
                if now > start + seconds:
                    continue  # the offered load has stopped; the rest is not sent
                r = client.post(f"{server.url}/api/v1/ingest", content=body, headers=headers)
                with lock:
                    lag.append(max(0.0, now - due[k]))
                    if r.status_code == 200:
                        acked[k] = time.time()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for k in range(total):  # the schedule: each batch is released when it is due
        time.sleep(max(0.0, due[k] - time.time()))
        pending.put(k)
    for _ in threads:
        pending.put(None)
    for t in threads:
        t.join()
    last_ack = max(acked.values(), default=time.time())
    return {
        "due_ms": {k: due[k] * 1000 for k in acked},  # acknowledged batches only
        "offered": total * batch_records,
        "records": len(acked) * batch_records,
        "seconds": last_ack - start,
        "max_send_lag_s": max(lag, default=0.0),
        "ack_s": np.array([t - due[k] for k, t in acked.items()]),
    }


def latency(
    rate: int, seconds: float, tick: float, port: int, batch: int = 0, senders: int = SENDERS
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    server = Server(port, tick)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{server.url}/")
            page.wait_for_function("window.__wall.frames > 0", timeout=30_000)
            batch_records = batch or min(max(rate // 10, 1000), 50_000)
            run = load(server, rate, seconds, batch_records, senders)
            time.sleep(8 + tick)  # let the last windows show
            log = page.evaluate("window.__wall.log")
            browser.close()
    finally:
        server.stop()
    shown = np.array([(t, e) for t, e in log if e], dtype=np.float64).reshape(-1, 2)
    lat = []
    for k, t_due in run["due_ms"].items():
        window = T0 + k * 1000 - 6000  # the newest window batch k makes final
        if window < T0:
            continue
        hit = shown[shown[:, 1] >= window]
        if len(hit):
            lat.append(hit[:, 0].min() - t_due)
    arr = np.array(lat) / 1000
    return {
        "target_per_s": rate,
        "offered_records": run["offered"],
        "acknowledged_records": run["records"],
        "achieved_per_s": run["records"] / run["seconds"],  # to the last acknowledgement
        "max_send_lag_s": run["max_send_lag_s"],
        # due -> acknowledged (the group commit: a record is durable when acknowledged)
        "ack_p50_s": _pct(run["ack_s"], 50),
        "ack_p99_s": _pct(run["ack_s"], 99),
        "ack_max_s": float(run["ack_s"].max()) if len(run["ack_s"]) else float("nan"),
        "tick_s": tick,
        "batch_records": batch_records,
        "senders": senders,
        "windows": len(arr),
        "p50_s": _pct(arr, 50),
        "p99_s": _pct(arr, 99),
    }


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def fanout(clients: int, seconds: float, port: int, tick: float) -> dict[str, Any]:
    server = Server(port, tick)
    delays: list[float] = []

    async def one(client: httpx.AsyncClient, stop: float) -> None:
        async with client.stream("GET", f"{server.url}/api/v1/stream") as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    now = time.time() * 1000
                    frame = json.loads(line[6:])
                    if frame.get("kind") == "tick":
                        delays.append((now - frame["server_ms"]) / 1000)
                if time.time() > stop:
                    return

    async def main() -> None:
        limits = httpx.Limits(max_connections=clients + 10)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            stop = time.time() + seconds
            await asyncio.gather(*(one(client, stop) for _ in range(clients)))

    feeder = threading.Thread(target=load, args=(server, 20_000, seconds, 5_000))
    try:
        feeder.start()
        asyncio.run(main())
        feeder.join()
    finally:
        server.stop()
    arr = np.array(delays)
    return {
        "clients": clients,
        "tick_s": tick,
        "frames": len(arr),
        "p50_s": float(np.percentile(arr, 50)),
        "p99_s": float(np.percentile(arr, 99)),
    }
