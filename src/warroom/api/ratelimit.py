"""A token bucket per caller, in records per second, with a one-second burst."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self.lock = threading.Lock()

    def take(self, key: str, n: int) -> float:
        """0 if `n` records may pass now, else the seconds to wait. A batch larger than the
        burst passes when the bucket is full and leaves it in debt."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(key, (self.rate, now))
            tokens = min(self.rate, tokens + (now - last) * self.rate)
            need = min(n, self.rate)
            if tokens >= need:
                self.buckets[key] = (tokens - n, now)
                return 0.0
            self.buckets[key] = (tokens, now)
            return max(0.001, (need - tokens) / self.rate)


def retry_after(seconds: float) -> str:
    """Whole seconds for the header, at least 1, at most a day."""
    return str(max(1, math.ceil(min(seconds, 86_400.0))))
