"""Formatting records as contract NDJSON, fast: f-strings over columns, no json.dumps
per event. Money is written from integer minor units, never from a float's repr."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from warroom.sim import world

_TZ = timedelta(hours=8)


def money(minor: int, currency: str) -> str:
    d = world.digits(currency)
    if d == 0:
        return str(minor)
    return f"{minor // 10**d}.{minor % 10**d:0{d}d}"


def ts_text(ts: int, as_string: bool) -> str:
    """Epoch ms, or (for a share of records) RFC 3339 with the +08:00 offset."""
    if not as_string:
        return str(ts)
    moment = datetime.fromtimestamp(ts / 1000, UTC) + _TZ
    return '"' + moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}+08:00" + '"'


def attrs(values: dict[str, str]) -> str:
    return json.dumps(values, separators=(",", ":"), sort_keys=True)


class Sink:
    """Collects (delivery key, line) pairs; delivery key orders the file."""

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.lines: list[str] = []
        self.count = 0

    def add(self, key: int, line: str) -> None:
        self.keys.append(key)
        self.lines.append(line)

    def next_id(self, prefix: str = "e") -> str:
        self.count += 1
        return f"{prefix}-{self.count}"
