"""One monitor per watched metric: its baseline, its detectors, and per tick the
score, direction, deviation, observed and expected value of every series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from warroom.detect.baseline import MarketBaseline, RateBaseline, ShareBaseline
from warroom.detect.counts import BinomialCusum, DropToZero, PoissonCusum, RateCusum
from warroom.detect.protocol import squash

_KEEP = 0.7  # memory of the deviation used by root cause (a few seconds)
_SHOW = 0.5  # memory of the observed/expected values reported in alerts
# Memory of the residual sums that measure dispersion over a few seconds: the CUSUM
# adds seconds up, so what matters is the noise of sums, not of single seconds.
_BLOCK = 0.7
_MARKET_FREEZE_S = 60


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
        self.market_frozen = 0  # seconds the market's baseline has not learnt its own move
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
        plan: np.ndarray | None = None,
    ) -> Tick:
        """`moved`: series with an open alert; their excess is kept out of what the
        market's baseline learns, so an incident does not become the market's norm.
        `plan`: each series' planned multiplier now (campaigns' planned curves,
        `detect/planned.py`; 1 = nothing planned beyond what the baselines learnt,
        0 = nothing expected): baselines learn counts divided by it and expect
        their forecast times it, so a planned surge is expected and a planned surge
        that does not come is a shortfall."""
        x = cols[self.column]
        g = plan
        # plan-free counts: what the baselines learn and expect before the plan's factor
        # (a slice's share stays relative to the market's real mass: the plan-free
        # market would assume the plan was kept, and a shortfall would hide in it)
        xd = x if g is None else np.where(g > 0, x / np.maximum(g, 1e-9), 0.0)
        m = float(x[root])
        mu, rel = self.share.expected(xd, m, groups)
        mu[root] = self.market.expected(ts)
        if g is not None:
            mu = mu * g
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
        # outside its plan's window a campaign's slice is not expected: it starts afresh
        # when the window opens
        frozen = score >= 0.25
        if g is not None:  # while the plan moves a slice, the plan is its expectation
            # (once the slice has a share of its own: one whose window just opened
            # learns it first)
            settled = self.share.smi >= 0.5 * self.share.sm
            frozen |= (np.abs(g - 1) > 0.1) & settled
        self.share.learn(xd, m, frozen=frozen, reset=None if g is None else g <= 0)
        excess = sum(float(x[i] - mu[i]) for i in (moved or []) if i != root and mu[i] > 0)
        # the market's own move is not its norm either (a dip must not become the level
        # its recovery is judged against), for at most _MARKET_FREEZE_S: a lasting
        # change of the whole market has no other baseline to be learnt from
        moving = not planned and score[root] >= 0.25
        self.market_frozen = self.market_frozen + 1 if moving else 0
        g_root = 1.0 if g is None else float(g[root])
        if g_root > 0 and not 0 < self.market_frozen <= _MARKET_FREEZE_S:
            self.market.learn(max(m - excess, 0.0) / g_root, ts, fast=planned)
        return Tick(score, direction, self.dev.copy(), self.ew_x.copy(), self.ew_mu.copy())


class RatioMonitor:
    """A ratio (payment success rate, conversion, refund rate) judged with its sample
    size: successes of trials against the series' own learnt rate (binomial CUSUM).

    `den_decay`: the trials are an EW mean of the denominator rather than this
    second's, for ratios whose numerator lags it (shoppers browse, then buy; refunds
    come long after the orders they undo). `dispersion`: the binomial evidence is
    divided by each series' learnt overdispersion (orders given visits are not
    independent trials). `step`: the most evidence one second may add, as a share of
    the threshold, so a lag between the two counts (visits leading the orders at a
    traffic step) must persist before it alarms. `blind_in_plan`: a planned jump of
    the market (00:00) moves numerator and denominator at different times; the ratio
    is neither judged nor learnt then. `relative`: each slice is judged against the
    rest of its grouping set (`RateBaseline`) rather than its own past, for a ratio
    whose level follows the day (refund rate); the whole market is then not judged.
    `sides`: the directions judged (a fall of the refund rate is no incident, and
    must not stop the slice learning its rate). `keep`: memory of the deviation root
    cause compares (longer for sparse counts, whose single seconds are mostly noise).
    `prior_dispersion`: what a new series' overdispersion is taken to be. `warmup`:
    seconds a new series is only learnt, not judged. `den_now`: the trials are at
    most this second's denominator, so when the denominator itself falls (shoppers
    gone, orders following seconds later) the lagging numerator is no evidence of a
    drop of the ratio; a rise of the denominator keeps the lagged mean.
    """

    def __init__(
        self,
        metric: str,
        num: str,
        den: str,
        *,
        den_decay: float = 0.0,
        rho_drop: float = 0.5,
        rho_spike: float = 3.0,
        h: float = 18.0,
        step: float | None = None,
        dispersion: bool = False,
        blind_in_plan: bool = False,
        relative: bool = False,
        prior_dispersion: float = 4.0,
        sides: tuple[int, ...] = (-1, 1),
        keep: float = _KEEP,
        warmup: int = 0,
        den_now: bool = False,
    ) -> None:
        self.metric, self.num, self.den = metric, num, den
        self.den_decay, self.use_dispersion, self.blind = den_decay, dispersion, blind_in_plan
        self.prior_dispersion, self.sides, self.keep = prior_dispersion, sides, keep
        self.warmup, self.den_now = warmup, den_now
        cap = None if step is None else step * h
        self.base = RateBaseline() if relative else None
        self.cusum: BinomialCusum | RateCusum = (
            RateCusum(0, rho_drop=rho_drop, rho_spike=rho_spike, h=h, max_step=cap)
            if relative
            else BinomialCusum(0, rho_drop=rho_drop, rho_spike=rho_spike, h=h, max_step=cap)
        )
        self.dev = self.ew_s = self.ew_t = self.trials = self.ew_den = self.age = np.zeros(0)
        self.r2 = np.zeros(0)  # EW squared Pearson residual: the series' dispersion

    def resize(self, n: int) -> None:
        self.cusum.resize(n)
        if self.base is not None:
            self.base.resize(n)
        grow = max(0, n - len(self.dev))
        self.dev, self.ew_s, self.ew_t, self.trials, self.ew_den, self.age = (
            np.concatenate([a, np.zeros(grow)])
            for a in (self.dev, self.ew_s, self.ew_t, self.trials, self.ew_den, self.age)
        )
        # a new series is assumed bursty until it shows otherwise (as counts are)
        self.r2 = np.concatenate([self.r2, np.full(grow, self.prior_dispersion)])

    def dispersion(self, expected_var: np.ndarray) -> np.ndarray:
        """The series' own overdispersion, or the metric's median when that is larger
        (a young series has seen too little to claim it is calmer than its peers)."""
        if not self.use_dispersion:
            return np.ones_like(self.r2)
        big = expected_var >= 1
        pooled = float(np.median(self.r2[big])) if big.any() else 1.0
        return np.maximum(np.maximum(1.0, pooled), self.r2)

    def step(
        self,
        cols: dict[str, np.ndarray],
        root: int,
        ts: int,
        planned: bool,
        groups: dict,
        moved: list[int] | None = None,
        plan: np.ndarray | None = None,
    ) -> Tick:
        den = cols[self.den]
        a = self.den_decay
        self.age += 1
        if a > 0:  # an EW mean, corrected for its start at zero (a young series')
            self.ew_den = a * self.ew_den + (1 - a) * den
            self.trials = self.ew_den / (1 - a**self.age)
            if self.den_now:  # a fall of the denominator itself is not this ratio's
                self.trials = np.minimum(self.trials, den)
        else:
            self.trials = den
        t = self.trials
        s = np.minimum(cols[self.num], t)
        if self.base is None:
            p0, est = self.cusum.rate(), np.ones_like(t)
        else:
            level, rel = self.base.rest(groups)
            p0 = np.clip(self.base.propensity() * level, 0.0, 1.0)
            est = 1.0 + p0 * t * rel  # the rest's rate is itself read from few successes
        var = t * p0 * (1 - p0)
        phi = est * self.dispersion(var)
        cols_in = [s / phi, t / phi] if self.base is None else [s / phi, t / phi, p0]
        inp = np.column_stack(cols_in)
        up, down = self.cusum.sums(self.cusum._cols(inp))
        up = up if 1 in self.sides else np.zeros_like(up)
        down = down if -1 in self.sides else np.zeros_like(down)
        score = np.clip(np.nan_to_num(squash(np.maximum(up, down), self.cusum.h)), 0.0, 1.0)
        score[self.age <= self.warmup] = 0.0  # its first rate is still being learnt
        direction = np.where(up >= down, 1, -1)
        self.dev = self.keep * self.dev + (s - p0 * t)
        self.ew_s = _SHOW * self.ew_s + s
        self.ew_t = _SHOW * self.ew_t + t
        observed = np.where(self.ew_t > 0, self.ew_s / np.maximum(self.ew_t, 1e-9), p0)
        if self.blind and planned:  # the plan's jump: counts out of step, not evidence
            self.cusum.state["up"][:] = 0.0
            self.cusum.state["down"][:] = 0.0
            return Tick(np.zeros_like(score), direction, self.dev.copy(), observed, p0)
        if self.use_dispersion:
            quiet = (score < 0.25) & (var >= 0.05)
            resid = (s - p0 * t) ** 2 / np.maximum(var, 0.5) / est
            self.r2 = np.where(quiet, 0.98 * self.r2 + 0.02 * np.minimum(resid, 50.0), self.r2)
        self.cusum.learn_many(inp)
        young = self.age <= self.warmup
        self.cusum.state["up"][young] = self.cusum.state["down"][young] = 0.0  # learn only
        if self.base is not None:
            self.base.learn(s, t, level, frozen=score >= 0.25)
        return Tick(score, direction, self.dev.copy(), observed, p0)
