"""The clock every timer reads: injected, so tests drive time and replays are deterministic."""

from __future__ import annotations

import threading
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


class StreamClock:
    """The server's timer clock: event time, kept running on the wall clock between events.

    DESIGN.md runs plan timers on the stream's clock; people and silence do not send
    events, so a quiet stream must not freeze an approval's time-out or a broadcast's
    escalation. `now_ms` is the newest event `ts` seen plus the wall time since it was
    seen; an event ahead of that moves the clock forward to it (a fast replay runs the
    timers fast); one behind it changes nothing. Never goes backwards. `wall` is
    injectable, so tests drive it with a `FakeClock`.
    """

    def __init__(self, start_ms: int | None = None, *, wall: Clock | None = None) -> None:
        self.wall = wall or SystemClock()
        w = self.wall.now_ms()
        # an empty store has no event time yet: start at the wall's, not at 1970
        self._event, self._anchor = (start_ms or w), w
        self._last = self._event
        self._lock = threading.Lock()  # the writer thread observes, the loops read

    def observe(self, ts_ms: int) -> None:
        with self._lock:
            if ts_ms > self._now():
                self._event, self._anchor = ts_ms, self.wall.now_ms()

    def _now(self) -> int:
        self._last = max(self._last, self._event + self.wall.now_ms() - self._anchor)
        return self._last

    def now_ms(self) -> int:
        with self._lock:
            return self._now()
