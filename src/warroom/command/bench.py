"""Broadcast load benchmark: many SSE clients, dropped connections, every message once.

`python -m warroom.command.bench` (or `warroom broadcast bench`) starts `warroom serve`
on 127.0.0.1 in a temporary state directory, connects N clients (one named token each,
all on the roster) to `/api/v1/broadcast/stream`, sends M messages to everyone, and
meanwhile drops a share of the connections for a random 1-20 s each; a dropped client
comes back with `Last-Event-ID`, as EventSource does. It checks that every client shows
every message exactly once (keyed by message id, no event id twice) and prints the
fan-out: send -> received, for clients connected at the time (p50/p99/max), and the
catch-up of returning clients after they reconnect.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RATES = {"base": "CNY", "rates": {"CNY": 1}, "minor_digits": {}}


@dataclass
class Client:
    name: str
    token: str
    last_id: str | None = None
    shown: dict[int, float] = field(default_factory=dict)  # message id -> first seen (perf)
    event_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    intervals: list[list[float]] = field(default_factory=list)  # [connected, dropped) times
    reconnects: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _listen(http: httpx.AsyncClient, url: str, c: Client) -> None:
    """One connection's life: read events until cancelled (a drop) or the stream ends."""
    headers = {"Authorization": f"Bearer {c.token}"}
    if c.last_id:
        headers["Last-Event-ID"] = c.last_id
    async with http.stream("GET", url, headers=headers, timeout=None) as r:
        r.raise_for_status()
        c.intervals.append([time.perf_counter(), float("inf")])  # closed in `finally` below
        c.connected.set()
        fields: dict[str, str] = {}
        try:
            async for line in r.aiter_lines():
                if line:
                    key, _, value = line.partition(": ")
                    fields[key] = value
                    continue
                if "data" in fields:
                    now = time.perf_counter()
                    event_id = int(fields["id"])
                    if c.event_ids and event_id <= c.event_ids[-1]:
                        c.duplicates += 1  # an event again, or out of order
                    c.event_ids.append(event_id)
                    c.last_id = fields["id"]
                    data = json.loads(fields["data"])
                    if fields.get("event") == "message":
                        if data["message_id"] in c.shown:
                            c.duplicates += 1
                        else:
                            c.shown[data["message_id"]] = now
                fields = {}
        finally:
            c.intervals[-1][1] = time.perf_counter()
            c.connected.clear()


async def _client(http: httpx.AsyncClient, url: str, c: Client, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await _listen(http, url, c)
        except (httpx.HTTPError, OSError):
            await asyncio.sleep(0.2)  # the server refused or went away: retry like a browser


async def _run(base: str, tokens: dict[str, str], sender: str, args: Any) -> dict[str, Any]:
    url = f"{base}/api/v1/broadcast/stream"
    clients = [Client(n, t) for n, t in tokens.items()]
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=args.clients * 2 + 10)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        tasks = {c.name: asyncio.create_task(_client(http, url, c, stop)) for c in clients}
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), timeout=120)
        rng = random.Random(args.seed)
        window = args.messages * args.interval
        dropped = rng.sample(clients, round(len(clients) * args.drop_share))

        async def drop(c: Client, at: float, seconds: float) -> None:
            await asyncio.sleep(at)
            tasks[c.name].cancel()  # the connection goes away mid-stream
            await asyncio.sleep(seconds)
            c.reconnects += 1
            tasks[c.name] = asyncio.create_task(_client(http, url, c, stop))

        drops = [
            asyncio.create_task(drop(c, rng.uniform(0, window), rng.uniform(1, 20)))
            for c in dropped
        ]
        sent: dict[int, float] = {}
        t0 = time.perf_counter()
        for i in range(args.messages):
            await asyncio.sleep(max(0.0, t0 + i * args.interval - time.perf_counter()))
            at = time.perf_counter()
            r = await http.post(
                f"{base}/api/v1/broadcast",
                json={"message": f"bench message {i}", "roles": ["*"], "ack_within": "1h"},
                headers={"Authorization": f"Bearer {sender}"},
            )
            r.raise_for_status()
            sent[r.json()["id"]] = at
        await asyncio.gather(*drops)
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            if all(len(c.shown) >= len(sent) for c in clients):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything arriving twice would arrive now
        stop.set()
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    live, catch_up = [], []
    for c in clients:
        for mid, t_sent in sent.items():
            got = c.shown.get(mid)
            if got is None:
                continue
            # connected when it was sent and still on the same connection when it came
            if any(a <= t_sent and got <= b for a, b in c.intervals):
                live.append(got - t_sent)
            else:
                back = max((a for a, _ in c.intervals if a <= got), default=t_sent)
                catch_up.append(got - max(back, t_sent))
    complete = sum(1 for c in clients if set(c.shown) >= set(sent))
    return {
        "clients": len(clients),
        "messages": len(sent),
        "dropped_clients": len(dropped),
        "reconnects": sum(c.reconnects for c in clients),
        "clients_with_every_message": complete,
        "duplicates": sum(c.duplicates for c in clients),
        "deliveries": sum(len(c.shown) for c in clients),
        "fanout_live_p50_ms": round(_quantile(live, 0.50) * 1000, 1),
        "fanout_live_p99_ms": round(_quantile(live, 0.99) * 1000, 1),
        "fanout_live_max_ms": round(max(live, default=0) * 1000, 1),
        "live_deliveries": len(live),
        "catch_up_after_reconnect_p99_ms": round(_quantile(catch_up, 0.99) * 1000, 1),
        "replayed_deliveries": len(catch_up),
    }


def _make_tokens(data: Path, n: int) -> tuple[dict[str, str], str]:
    from warroom.auth.tokens import TokenStore
    from warroom.command.service import Command
    from warroom.store.db import Store

    engine = Store.open(data).engine
    store = TokenStore(engine)
    tokens = {f"c{i:03d}": store.create(role="viewer", name=f"c{i:03d}")[0] for i in range(n)}
    sender = store.create(role="commander", name="ops")[0]
    people = [{"name": name, "role": "floor"} for name in tokens]
    Command.open(engine=engine).broadcast.load_roster(people)
    engine.dispose()
    return tokens, sender


def bench(
    *,
    clients: int = 200,
    messages: int = 100,
    drop_share: float = 0.3,
    interval: float = 0.2,
    seed: int = 7,
) -> dict[str, Any]:
    args = type(
        "Args",
        (),
        dict(
            clients=clients,
            messages=messages,
            drop_share=drop_share,
            interval=interval,
            seed=seed,
        ),
    )
    with tempfile.TemporaryDirectory(prefix="warroom-bcast-") as tmp:
        data = Path(tmp) / "state"
        (Path(tmp) / "rates.json").write_text(json.dumps(RATES))
        tokens, sender = _make_tokens(data, clients)
        port = _port()
        cmd = [sys.executable, "-m", "warroom.cli", "serve", "--data", str(data)]
        cmd += ["--port", str(port), "--rates", str(Path(tmp) / "rates.json")]
        log = (Path(tmp) / "server.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=os.environ.copy())
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("server did not start")
            out = asyncio.run(_run(base, tokens, sender, args))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            tail = (Path(tmp) / "server.log").read_text(errors="replace")[-3000:]
            if "Traceback" in tail or "ERROR" in tail:  # the server's trouble, if any
                sys.stderr.write(f"server log (tail):\n{tail}\n")
    out["ok"] = (
        out["clients_with_every_message"] == clients
        and out["duplicates"] == 0
        and out["fanout_live_p99_ms"] <= 1000
    )
    return out


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--drop-share", type=float, default=0.3)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between messages")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    out = bench(
        clients=a.clients,
        messages=a.messages,
        drop_share=a.drop_share,
        interval=a.interval,
        seed=a.seed,
    )
    print(json.dumps(out, indent=2))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
