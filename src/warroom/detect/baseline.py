"""Baselines that expect the day's shape.

- A slice is expected to keep its share of the whole market (`ShareBaseline`): at
  00:00 every slice surges with the market and decays with it, so the plan is not
  an anomaly, while a slice that loses its share (an outage, a drop in one channel)
  or gains it (a spike) is.
- The whole market follows its own dynamics (`MarketBaseline`): Holt's level and
  trend on log counts, so an exponential decay is a straight line it tracks; when a
  rehearsal or last year's curve is given, the forecast is that curve scaled to
  today's level instead.
- A `Plan` lists windows where the market is expected to jump (the 00:00 surge).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DAY_MS, HOUR_MS = 86_400_000, 3_600_000


class ShareBaseline:
    """Expected count of each series = its learnt share x the market's level now.

    The market's level is read per grouping set as the share-weighted median of
    `count / share` over its slices (no slice weighing more than `cap`): when one
    channel spikes or one region goes dark, the other slices of that set still say
    what the market would have been, so they do not look moved themselves.
    """

    def __init__(
        self,
        halflife_s: float = 60.0,
        min_mass: float = 2000.0,
        min_count: float = 5.0,
        cap: float = 0.35,
    ) -> None:
        self.decay = 0.5 ** (1.0 / halflife_s)
        self.min_mass, self.min_count, self.cap = min_mass, min_count, cap
        self.sx = np.zeros(0)
        self.sm = 0.0

    def resize(self, n: int) -> None:
        if n > len(self.sx):
            self.sx = np.concatenate([self.sx, np.zeros(n - len(self.sx))])

    def expected(
        self, x: np.ndarray, market_now: float, groups: dict[tuple[str, ...], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(expected count, relative variance of the market level used) per series.

        Pairs are sparse (most cells are empty in a given second), so a pair takes
        the level of whichever of its two dimensions moved away from the observed
        total: the one that localises today's move.
        """
        mu, rel = np.zeros_like(self.sx), np.zeros_like(self.sx)
        if self.sm < self.min_mass:
            return mu, rel  # too young to expect anything
        share = np.where(self.sx >= self.min_count, self.sx / self.sm, 0.0)
        levels: dict[str, float] = {}
        for dims, g in groups.items():
            sh = share[g]
            ok = sh > 0
            if len(dims) == 1 and ok.any():
                levels[dims[0]] = _weighted_median(x[g][ok] / sh[ok], sh[ok], self.cap)
        far = max(market_now, 1.0)
        for dims, g in groups.items():
            known = [levels[d] for d in dims if d in levels]
            level = max(known, key=lambda v: abs(np.log((v + 1) / far))) if known else market_now
            mu[g] = share[g] * level
            rel[g] = 1.0 / max(0.3 * level, 1.0)  # a median rests on ~30 % of the mass
        return mu, rel

    def learn(self, x: np.ndarray, market_now: float, frozen: np.ndarray) -> None:
        # a frozen series keeps its share (scaled with the market's mass) rather than
        # learning an incident as the new normal
        new = self.decay * self.sm + market_now
        scale = new / self.sm if self.sm > 0 else 1.0
        self.sx = np.where(frozen, self.sx * scale, self.decay * self.sx + x)
        self.sm = new


def _weighted_median(values: np.ndarray, weights: np.ndarray, cap: float) -> float:
    w = np.minimum(weights, cap * weights.sum())
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(w[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


class MarketBaseline:
    """Holt on log(1 + count): level and trend, or a given curve scaled to today."""

    def __init__(
        self, alpha: float = 0.3, beta: float = 0.05, curve: Curve | None = None, clip: float = 1.0
    ) -> None:
        self.alpha, self.beta, self.curve = alpha, beta, curve
        # largest log error one second may teach (outside a planned jump): on log(1 + x)
        # an empty second is a huge error, and one must not drag the level to a third
        self.clip = clip
        self.level: float | None = None
        self.trend = 0.0
        self.ratio: float | None = None  # today's level / the curve's
        self.seen = 0
        self.warmup = 30  # seconds before the forecast is trusted

    def expected(self, ts: int) -> float:
        if self.curve is not None and self.ratio is not None:
            return self.ratio * self.curve.at(ts)
        if self.level is None or self.seen < self.warmup:
            return 0.0
        return float(np.expm1(self.level + self.trend))

    def learn(self, x: float, ts: int, fast: bool = False) -> None:
        if self.curve is not None:
            ref = self.curve.at(ts)
            if ref > 0:
                r = x / ref
                self.ratio = r if self.ratio is None else 0.98 * self.ratio + 0.02 * r
        y = float(np.log1p(max(x, 0.0)))
        self.seen += 1
        if self.level is None:
            self.level = y
            return
        a = 0.9 if fast else self.alpha  # inside a planned jump: follow it
        prev = self.level
        pred = self.level + self.trend
        err = y - pred if fast else float(np.clip(y - pred, -self.clip, self.clip))
        self.level = pred + a * err
        self.trend = self.beta * (self.level - prev) + (1 - self.beta) * self.trend


@dataclass
class Curve:
    """A market curve by seconds after 00:00 (a rehearsal, or last year's day)."""

    offsets: np.ndarray  # seconds after midnight, ascending
    values: np.ndarray
    midnight: int  # epoch ms of today's 00:00 in the curve's time zone

    @classmethod
    def load(cls, path: Path, midnight: int) -> Curve:
        with path.open() as fh:
            rows = [
                (float(r[0]), float(r[1]))
                for r in csv.reader(fh)
                if r and r[0][0] != "#" and r[0].lstrip("-").replace(".", "", 1).isdigit()
            ]
        arr = np.array(sorted(rows))
        return cls(arr[:, 0], arr[:, 1], midnight)

    def at(self, ts: int) -> float:
        return float(np.interp((ts - self.midnight) / 1000.0, self.offsets, self.values))


@dataclass
class Plan:
    """Windows (epoch ms) where the whole market is expected to jump."""

    windows: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def double_eleven(cls, any_ts: int, surge_s: float = 120.0, tz_hours: int = 8) -> Plan:
        """The 00:00 surge of the day holding `any_ts` (and of the next day, for runs
        that start before midnight)."""
        off = tz_hours * HOUR_MS
        midnight = (any_ts + off) // DAY_MS * DAY_MS - off
        # visits lead orders by a few seconds: the plan starts just before 00:00
        lead = 10_000
        return cls([(m - lead, m + int(surge_s * 1000)) for m in (midnight, midnight + DAY_MS)])

    def planned(self, ts: int) -> bool:
        return any(a <= ts < b for a, b in self.windows)
