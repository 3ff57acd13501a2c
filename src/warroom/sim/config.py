"""Simulation settings, the scenario kinds, the clock of the compressed day, seeded streams."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

# 2026-11-11T00:00:00+08:00: the moment Double 11 starts.
MIDNIGHT_MS = 1_794_326_400_000
SCENARIOS: tuple[str, ...] = (
    "payment_outage",
    "regional_outage",
    "traffic_drop",
    "traffic_spike",
    "sku_scramble",
    "price_error",
    "refund_abuse",
    "late_data",
    "duplicate_delivery",
)
PRE_MIDNIGHT = 0.03  # share of the run before midnight (the warm-up)


@dataclass(frozen=True)
class SimConfig:
    minutes: float = 10.0
    rate: float = 200.0
    seed: int = 7
    scenarios: tuple[str, ...] = SCENARIOS
    base_currency: str = "CNY"

    def check(self) -> None:
        if not self.minutes > 0 or not self.rate > 0:
            raise ValueError("minutes and rate must be positive")
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenarios: {', '.join(unknown)}")


@dataclass(frozen=True)
class Clock:
    """Event time of the run: `start` (before midnight) to `end` (exclusive), in epoch ms.

    `day_ms` event milliseconds stand for the 24 hours after midnight, so a scaled
    duration (an hour of the day) is a fraction of it and the shape scales with minutes.
    """

    start: int
    end: int
    day_ms: int

    @classmethod
    def of(cls, cfg: SimConfig) -> Clock:
        total = max(round(cfg.minutes * 60_000), 6_000)
        # Whole seconds before midnight, so per-second bins start exactly at 00:00.
        pre = max(1_000, round(total * PRE_MIDNIGHT / 1_000) * 1_000)
        return cls(start=MIDNIGHT_MS - pre, end=MIDNIGHT_MS - pre + total, day_ms=total - pre)

    def at(self, frac: float) -> int:
        """Epoch ms at a fraction of the day (0 = midnight)."""
        return MIDNIGHT_MS + round(frac * self.day_ms)

    def hours(self, h: float | np.ndarray) -> np.ndarray:
        """Event ms standing for `h` hours of the day (scaled)."""
        return np.asarray(h, dtype=np.float64) * (self.day_ms / 24.0)

    def frac(self, ts: np.ndarray) -> np.ndarray:
        return (np.asarray(ts, dtype=np.float64) - MIDNIGHT_MS) / self.day_ms


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator per component: adding a scenario never shifts base traffic."""
    s64 = seed % (1 << 64)  # any int seed, negative included
    seq = np.random.SeedSequence([s64 & 0xFFFFFFFF, s64 >> 32, zlib.crc32(name.encode())])
    return np.random.Generator(np.random.PCG64(seq))
