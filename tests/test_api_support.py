"""Helpers for the API, auth and web tests: records, tokens and a real server process.

No tests here. Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from warroom.auth.roles import ROLES, SCOPED_ROLES
from warroom.auth.tokens import TokenStore
from warroom.store.db import Store

T0 = 1_762_790_400_000  # 2025-11-11T00:00:00+08:00
RATES = {"base": "CNY", "rates": {"CNY": 1, "USD": 7.1556, "JPY": 0.046582}, "minor_digits": {}}


def order(
    n: int,
    ts: int,
    price: str = "10.50",
    qty: int = 2,
    region: str = "CN-ZJ",
    channel: str = "app",
    category: str = "shoes",
    currency: str = "CNY",
) -> dict:
    return {
        "type": "order",
        "id": f"ev-o{n}",
        "ts": ts,
        "order_id": f"O{n}",
        "user_id": f"u{n % 7}",
        "merchant_id": "m1",
        "item_id": "i1",
        "sku_id": "s1",
        "category": category,
        "region": region,
        "country": "CN",
        "channel": channel,
        "quantity": qty,
        "unit_price": float(price),
        "currency": currency,
    }


def payment(n: int, ts: int, ok: bool = True, method: str = "alipay") -> dict:
    return {
        "type": "payment",
        "id": f"ev-p{n}",
        "ts": ts,
        "order_id": f"O{n}",
        "user_id": f"u{n % 7}",
        "status": "succeeded" if ok else "failed",
        "method": method,
        "amount": 21.0,
        "currency": "CNY",
        "latency_ms": 120,
    }


def visit(n: int, ts: int) -> dict:
    return {
        "type": "visit",
        "id": f"ev-v{n}",
        "ts": ts,
        "user_id": "u1",
        "region": "CN-ZJ",
        "country": "CN",
        "channel": "app",
        "page": "home",
    }


def ndjson(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def make_tokens(data_dir: Path) -> dict[str, str]:
    """One token per role, created the way `warroom token create` does (the merchant
    role's token acts for merchant m1)."""
    store = TokenStore(Store.open(data_dir).engine)
    return {
        role: store.create(
            role=role, name=f"test {role}", merchant="m1" if role in SCOPED_ROLES else None
        )[0]
        for role in ROLES
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    data_dir: Path
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def start(self, *extra: str) -> None:
        rates = self.data_dir.parent / "rates.json"
        rates.write_text(json.dumps(RATES))
        cmd = [
            sys.executable,
            "-m",
            "warroom.cli",
            "serve",
            "--data",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--rates",
            str(rates),
            "--checkpoint-seconds",
            "0.5",
            *extra,
        ]
        # a file, not a pipe: a pipe nobody reads would block the server once full
        self.log = self.data_dir.parent / "server.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextmanager
def running_server(data_dir: Path, *extra: str) -> Iterator[Server]:
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}", port, data_dir)
    server.start(*extra)
    try:
        yield server
    finally:
        server.stop()


os.environ.setdefault("NO_COLOR", "1")
