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
        # the market's mass over each series' own life: a series born (or a campaign's
        # window opened) minutes after the others is compared with what the market sold
        # since, not since the start (it would look like a spike while it caught up)
        self.smi = np.zeros(0)

    def resize(self, n: int) -> None:
        if n > len(self.sx):
            grow = n - len(self.sx)
            self.sx = np.concatenate([self.sx, np.zeros(grow)])
            self.smi = np.concatenate([self.smi, np.zeros(grow)])

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
        share = np.where(self.sx >= self.min_count, self.sx / np.maximum(self.smi, 1e-9), 0.0)
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

    def learn(
        self,
        x: np.ndarray,
        market_now: float,
        frozen: np.ndarray,
        reset: np.ndarray | None = None,
    ) -> None:
        """`frozen`: keeps its share (scaled with the market's mass) rather than
        learning an incident as the new normal. `reset`: forgets, to start afresh (a
        campaign's slice outside its window)."""
        new = self.decay * self.sm + market_now
        new_i = self.decay * self.smi + market_now
        scale = new_i / np.maximum(self.smi, 1e-9)
        self.sx = np.where(frozen, self.sx * scale, self.decay * self.sx + x)
        self.smi = new_i
        if reset is not None:
            self.sx = np.where(reset, 0.0, self.sx)
            self.smi = np.where(reset, 0.0, self.smi)
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


class RateBaseline:
    """Expected rate of each slice = its learnt propensity x the rate of the rest of
    its grouping set now (leave-one-out), for ratios whose level follows the day.

    The whole market's refund rate follows its orders by a delay no per-second
    baseline knows (the refunds of the 00:00 surge arrive minutes later), and every
    slice follows it together; so a slice is judged against the others of its
    grouping set over the last seconds, times its own learnt propensity (a category
    whose goods come back more often). Its own move does not move its reference, and
    a move of the whole market moves every reference: the market itself is not
    judged here.

    "The last seconds" is the shortest of three memories (~2 s, ~10 s, ~50 s) over
    which the rest should hold `enough` successes, or over which it moved by `z`
    standard errors from the longest: short enough to follow the day's rise after
    00:00, long enough that a thin rest (the few countries beside CN) is not a noisy
    reference. What noise remains is returned as a relative variance.
    """

    MEMORIES = (0.5, 0.9, 0.98)

    def __init__(self, halflife_s: float = 120.0, enough: float = 20.0, z: float = 3.0) -> None:
        self.decay = 0.5 ** (1.0 / halflife_s)  # memory of a slice's propensity
        self.enough, self.z = enough, z
        self.prior = 5.0  # pseudo successes at the market's rate: small slices start there
        self.ss = np.zeros((len(self.MEMORIES), 0))
        self.st = np.zeros((len(self.MEMORIES), 0))
        self.ks = self.kt = np.zeros(0)

    def resize(self, n: int) -> None:
        grow = max(0, n - len(self.ks))
        pad = np.zeros((len(self.MEMORIES), grow))
        self.ss, self.st = np.hstack([self.ss, pad]), np.hstack([self.st, pad])
        self.ks, self.kt = (np.concatenate([a, np.zeros(grow)]) for a in (self.ks, self.kt))

    def propensity(self) -> np.ndarray:
        return (self.ks + self.prior) / (self.kt + self.prior)

    def rest(self, groups: dict[tuple[str, ...], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(rate of the rest of each series' grouping set, its relative variance);
        0 for series in no group (the market)."""
        k = self.propensity()
        level, rel = np.zeros_like(self.ks), np.zeros_like(self.ks)
        for g in groups.values():
            num, den = self.ss[:, g], k[g] * self.st[:, g]
            other_num = num.sum(axis=1, keepdims=True) - num
            other_den = den.sum(axis=1, keepdims=True) - den
            # the shortest memory whose rest should hold enough successes by what the
            # longest says (choosing by the counts themselves would pick a short memory
            # when it happens to be high), or whose rest moved far from that (the day
            # rising: the refunds of the 00:00 surge arriving), else the longest
            span = 1.0 / (1.0 - np.array(self.MEMORIES))[:, None]
            likely = other_num[-1:] / span[-1] * span[:-1]
            moved = np.abs(other_num[:-1] - likely) >= self.z * np.sqrt(likely + 1.0)
            short = (likely >= self.enough) | moved
            pick = np.argmax(np.vstack([short, np.ones((1, len(g)))]), 0)
            cols = np.arange(len(g))
            on, od = other_num[pick, cols], other_den[pick, cols]
            level[g] = np.where(od > 0, on / np.maximum(od, 1e-12), 0.0)
            rel[g] = 1.0 / np.maximum(on, 1.0)  # a rate read from that many successes
        return level, rel

    def learn(self, s: np.ndarray, t: np.ndarray, level: np.ndarray, frozen: np.ndarray) -> None:
        a = np.array(self.MEMORIES)[:, None]
        self.ss = a * self.ss + s
        self.st = a * self.st + t
        ok = ~frozen & (level > 0)  # an incident must not become a slice's propensity
        self.ks = np.where(ok, self.decay * self.ks + s, self.ks)
        self.kt = np.where(ok, self.decay * self.kt + t * level, self.kt)
