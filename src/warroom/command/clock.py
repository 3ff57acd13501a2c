"""The clock every timer reads: injected, so tests drive time and replays are deterministic."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """Wall time in UTC epoch milliseconds (the live default)."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class FakeClock:
    """A clock that moves only when told to (tests, event-time replays)."""

    def __init__(self, start_ms: int = 0) -> None:
        self.t = start_ms

    def now_ms(self) -> int:
        return self.t

    def advance(self, seconds: float) -> int:
        self.t += int(seconds * 1000)
        return self.t


_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}


def parse_duration(text: str) -> int:
    """`90s`, `5m`, `1h`, `250ms` to milliseconds; ValueError names what is wrong."""
    text = str(text).strip()
    for unit in ("ms", "s", "m", "h"):
        number = text.removesuffix(unit)
        if number != text and number.isdigit():
            ms = int(number) * _UNITS[unit]
            if ms <= 0:
                raise ValueError(f"{text!r} must be longer than zero")
            return ms
    raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h")


class EventClock:
    """Event time: the newest `ts` seen in the stream (DESIGN.md: plan timers run on it)."""

    def __init__(self, start_ms: int = 0) -> None:
        self.t = start_ms

    def observe(self, ts_ms: int) -> None:
        self.t = max(self.t, ts_ms)

    def now_ms(self) -> int:
        return self.t
