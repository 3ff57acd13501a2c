"""One monitor per watched metric: its baseline, its detectors, and per tick the
score, direction, deviation, observed and expected value of every series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from warroom.detect.baseline import MarketBaseline, ShareBaseline
from warroom.detect.counts import BinomialCusum, DropToZero, PoissonCusum

_KEEP = 0.7  # memory of the deviation used by root cause (a few seconds)
_SHOW = 0.5  # memory of the observed/expected values reported in alerts
# Memory of the residual sums that measure dispersion over a few seconds: the CUSUM
# adds seconds up, so what matters is the noise of sums, not of single seconds.
_BLOCK = 0.7


@dataclass
class Tick:
    score: np.ndarray
    direction: np.ndarray  # +1 spike, -1 drop
    deviation: np.ndarray  # signed, in the metric's unit (counts, or excess successes)
    observed: np.ndarray
    expected: np.ndarray


class CountMonitor:
    """A count (orders, visits): slices against their share, the market against its
    own dynamics, with Poisson CUSUM and drop-to-zero."""

    def __init__(
        self,
        metric: str,
        column: str,
        market_dispersion: float = 4.0,
        prior_dispersion: float = 4.0,
        h: float = 18.0,
    ) -> None:
        self.metric, self.column, self.phi_market = metric, column, market_dispersion
        self.prior_dispersion = prior_dispersion
        self.cusum, self.zero = PoissonCusum(0, h=h), DropToZero(0, h=h * 0.8)
        self.share, self.market = ShareBaseline(), MarketBaseline()
        self.dev = self.ew_x = self.ew_mu = np.zeros(0)
        self.r2 = np.zeros(0)  # EW squared Pearson residual: the series' dispersion
        # The same over EW sums of a few seconds. A visit count is ~10 pages per
        # shopper spread over 3 s, so neighbouring seconds move together: one
        # second's dispersion understates how far a 5-second run can stray.
        self.res_sum = self.mu_sum = np.zeros(0)
        self.r2_block = np.zeros(0)

    def resize(self, n: int) -> None:
        self.cusum.resize(n)
        self.zero.resize(n)
        self.share.resize(n)
        grow = max(0, n - len(self.dev))
        self.dev, self.ew_x, self.ew_mu, self.res_sum, self.mu_sum = (
            np.concatenate([a, np.zeros(grow)])
            for a in (self.dev, self.ew_x, self.ew_mu, self.res_sum, self.mu_sum)
        )
        # a new series is assumed bursty until it shows otherwise
        self.r2 = np.concatenate([self.r2, np.full(grow, self.prior_dispersion)])
        self.r2_block = np.concatenate([self.r2_block, np.full(grow, self.prior_dispersion)])

    def dispersion(self, mu: np.ndarray) -> np.ndarray:
        """Overdispersion of each series (real counts are burstier than Poisson): its
        own estimate, or the metric's median when that is larger (a young series has
        seen too little to claim it is calmer than its peers)."""
        own = np.maximum(self.r2, self.r2_block)
        big = mu >= 1
        pooled = float(np.median(own[big])) if big.any() else 1.0
        return np.maximum(np.maximum(1.0, pooled), own)

    def step(
        self,
        cols: dict[str, np.ndarray],
        root: int,
        ts: int,
        planned: bool,
        groups: dict,
        moved: list[int] | None = None,
        hold: bool = False,
    ) -> Tick:
        """`moved`: series with an open alert; their excess is kept out of what the
        market's baseline learns, so an incident does not become the market's norm.
        `hold`: the market's own drop is being held (pipeline); its baseline waits."""
        x = cols[self.column]
        m = float(x[root])
        mu, rel = self.share.expected(x, m, groups)
        mu[root] = self.market.expected(ts)
        # share and level are estimates: Var(x - mu) = mu + mu^2 (1/counts behind + rel)
        est = 1.0 + mu / np.maximum(self.share.sx, 1.0) + mu * rel
        phi = est * self.dispersion(mu)
        phi[root] = self.phi_market  # the market total is not Poisson: judged coarser
        inp = np.column_stack([x / phi, mu / phi])
        s_cusum, s_zero = self.cusum.score_many(inp), self.zero.score_many(inp)
        direction = np.where(s_zero > s_cusum, -1, self.cusum.direction_many(inp))
        score = np.maximum(s_cusum, s_zero)
        if planned:
            score[root] = 0.0
        self.dev = _KEEP * self.dev + (x - mu)
        self.ew_x = _SHOW * self.ew_x + (1 - _SHOW) * x
        self.ew_mu = _SHOW * self.ew_mu + (1 - _SHOW) * mu
        self.cusum.learn_many(inp)
        self.zero.learn_many(inp)
        if planned:  # the plan: the market's jump is expected, not evidence
            self.cusum.state["up"][root] = self.cusum.state["down"][root] = 0.0
        quiet = (score < 0.25) & (mu >= 0.5)
        resid = (x - mu) ** 2 / np.maximum(mu, 0.5) / est
        self.r2 = np.where(quiet, 0.98 * self.r2 + 0.02 * np.minimum(resid, 50.0), self.r2)
        # EW sums of iid Poisson residuals have E[sum^2] = sum(mu) / (1 + _BLOCK):
        # the factor makes r2_block 1 for Poisson noise, larger for clustered counts
        # restarted after a move, so an incident's residue is not learnt as noise
        self.res_sum = np.where(quiet, _BLOCK * self.res_sum + (x - mu), 0.0)
        self.mu_sum = np.where(quiet, _BLOCK * self.mu_sum + mu, 0.0)
        block = (1 + _BLOCK) * self.res_sum**2 / np.maximum(self.mu_sum, 0.5) / est
        self.r2_block = np.where(
            quiet, 0.98 * self.r2_block + 0.02 * np.minimum(block, 50.0), self.r2_block
        )
        self.share.learn(x, m, frozen=score >= 0.25)
        excess = sum(float(x[i] - mu[i]) for i in (moved or []) if i != root and mu[i] > 0)
        if not hold:
            self.market.learn(max(m - excess, 0.0), ts, fast=planned)
        return Tick(score, direction, self.dev.copy(), self.ew_x.copy(), self.ew_mu.copy())


class RatioMonitor:
    """A ratio (payment success rate, conversion, refund rate) judged with its sample
    size: successes of trials against the series' own learnt rate."""

    def __init__(self, metric: str, num: str, den: str) -> None:
        self.metric, self.num, self.den = metric, num, den
        self.cusum = BinomialCusum(0, h=18.0)
        self.dev = self.ew_s = self.ew_t = np.zeros(0)

    def resize(self, n: int) -> None:
        self.cusum.resize(n)
        grow = max(0, n - len(self.dev))
        self.dev, self.ew_s, self.ew_t = (
            np.concatenate([a, np.zeros(grow)]) for a in (self.dev, self.ew_s, self.ew_t)
        )

    def step(
        self,
        cols: dict[str, np.ndarray],
        root: int,
        ts: int,
        planned: bool,
        groups: dict,
        moved: list[int] | None = None,
        hold: bool = False,
    ) -> Tick:
        t = cols[self.den]
        s = np.minimum(cols[self.num], t)
        inp = np.column_stack([s, t])
        p0 = self.cusum.rate()
        score = self.cusum.score_many(inp)
        direction = self.cusum.direction_many(inp)
        self.dev = _KEEP * self.dev + (s - p0 * t)
        self.ew_s = _SHOW * self.ew_s + s
        self.ew_t = _SHOW * self.ew_t + t
        self.cusum.learn_many(inp)
        observed = np.where(self.ew_t > 0, self.ew_s / np.maximum(self.ew_t, 1e-9), p0)
        return Tick(score, direction, self.dev.copy(), observed, p0)
