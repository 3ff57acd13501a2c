"""Detectors for counts and ratios, judged with their sample size.

A second of a small slice holds a handful of orders, so a z-score on it means
little. These detectors accumulate evidence as log-likelihood ratios (Page's
CUSUM): a drop to zero in a slice of 50 orders/s is certain within a second, the
same drop in a slice of 1 order/s takes several; neither alarms on noise.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from warroom.detect.protocol import Batched, squash


class TwoSidedCusum(Batched):
    """What every two-sided CUSUM here shares: a subclass gives `sums` (the spike and
    drop evidence after this tick); the score is the larger against `h`, and the sums
    are capped at 1.5 h so that a long incident clears soon after it ends."""

    h: float

    def sums(self, cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _score(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        up, down = self.sums(cols)
        return squash(np.maximum(up, down), self.h)

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        self._keep(*self.sums(cols))

    def _keep(self, up: np.ndarray, down: np.ndarray) -> None:
        cap = 1.5 * self.h
        self.state["up"], self.state["down"] = np.minimum(up, cap), np.minimum(down, cap)

    def direction_many(self, x: np.ndarray) -> np.ndarray:
        """+1 where the spike evidence leads, -1 where the drop evidence does."""
        up, down = self.sums(self._cols(x))
        return np.where(up >= down, 1, -1)


class PoissonCusum(TwoSidedCusum):
    """Two-sided CUSUM of Poisson counts against an expected count per tick.

    Evidence for "the rate is rho_drop x expected" and "rho_spike x expected"; the
    sums are capped so that a long incident clears soon after it ends.
    """

    inputs: ClassVar[tuple[str, ...]] = ("observed", "expected")
    _init: ClassVar[dict[str, float]] = {"up": 0.0, "down": 0.0}

    def __init__(
        self,
        n: int = 1,
        rho_drop: float = 0.3,
        rho_spike: float = 2.0,
        h: float = 12.0,
        dispersion: float = 1.0,
    ) -> None:
        self.rho_drop, self.rho_spike, self.h, self.dispersion = rho_drop, rho_spike, h, dispersion
        super().__init__(n)

    def _llr(self, x: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ok = mu > 0  # no baseline, no evidence
        mu = np.where(ok, mu, 1.0)
        up = (x * np.log(self.rho_spike) - mu * (self.rho_spike - 1)) / self.dispersion
        down = (x * np.log(self.rho_drop) + mu * (1 - self.rho_drop)) / self.dispersion
        return np.where(ok, up, 0.0), np.where(ok, down, 0.0)

    def sums(self, cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        lu, ld = self._llr(cols[0], cols[1])
        return np.maximum(0.0, self.state["up"] + lu), np.maximum(0.0, self.state["down"] + ld)


class DropToZero(Batched):
    """A run of empty ticks where counts were expected: P(run) = exp(-sum expected)."""

    inputs: ClassVar[tuple[str, ...]] = ("observed", "expected")
    _init: ClassVar[dict[str, float]] = {"mass": 0.0}

    def __init__(self, n: int = 1, h: float = 10.0) -> None:
        self.h = h
        super().__init__(n)

    def _mass(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        x, mu = cols
        return np.where(x <= 0, self.state["mass"] + np.maximum(mu, 0.0), 0.0)

    def _score(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        return squash(self._mass(cols), self.h)

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        self.state["mass"] = np.minimum(self._mass(cols), 3 * self.h)


class BinomialCusum(TwoSidedCusum):
    """Two-sided CUSUM of a ratio (successes of trials) against its own learnt rate.

    The rate p0 is an exponentially weighted ratio of sums (so a second with one
    trial weighs one trial), learnt only while the series is quiet.
    """

    inputs: ClassVar[tuple[str, ...]] = ("successes", "trials")
    _init: ClassVar[dict[str, float]] = {"up": 0.0, "down": 0.0, "s": 0.0, "t": 0.0}

    def __init__(
        self,
        n: int = 1,
        rho_drop: float = 0.5,
        rho_spike: float = 3.0,
        h: float = 12.0,
        decay: float = 0.98,
        min_trials: float = 30.0,
        max_step: float | None = None,
    ) -> None:
        self.rho_drop, self.rho_spike, self.h = rho_drop, rho_spike, h
        self.decay, self.min_trials = decay, min_trials
        # the most evidence one tick may add: a change must persist over several ticks
        self.max_step = np.inf if max_step is None else max_step
        super().__init__(n)

    def rate(self) -> np.ndarray:
        """The learnt rate p0 (0.5 before any trial)."""
        return (self.state["s"] + 0.5) / (self.state["t"] + 1.0)

    def sums(self, cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        x, n = cols
        x = np.clip(x, 0, np.maximum(n, 0))
        p0 = np.clip(self.rate(), 1e-4, 1 - 1e-4)
        p_dn = p0 * self.rho_drop
        p_up = np.minimum(p0 * self.rho_spike, (1 + p0) / 2)

        def llr(p1: np.ndarray) -> np.ndarray:
            return x * np.log(p1 / p0) + (n - x) * np.log((1 - p1) / (1 - p0))

        ready = self.state["t"] >= self.min_trials
        up = np.where(ready, np.minimum(llr(p_up), self.max_step), 0.0)
        down = np.where(ready, np.minimum(llr(p_dn), self.max_step), 0.0)
        return np.maximum(0.0, self.state["up"] + up), np.maximum(0.0, self.state["down"] + down)

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        up, down = self.sums(cols)
        quiet = np.maximum(up, down) < self.h / 2  # an incident must not become the norm
        x, n = cols
        s, t = self.state["s"], self.state["t"]
        self.state["s"] = np.where(quiet, self.decay * s + np.clip(x, 0, n), s)
        self.state["t"] = np.where(quiet, self.decay * t + np.maximum(n, 0), t)
        self._keep(up, down)


class RateCusum(TwoSidedCusum):
    """Two-sided CUSUM of successes of trials against a given rate per tick (a
    baseline's, e.g. the rest of the market's refund rate times this slice's own
    propensity): evidence for rho_drop x and rho_spike x that rate."""

    inputs: ClassVar[tuple[str, ...]] = ("successes", "trials", "rate")
    _init: ClassVar[dict[str, float]] = {"up": 0.0, "down": 0.0}

    def __init__(
        self,
        n: int = 1,
        rho_drop: float = 0.5,
        rho_spike: float = 2.0,
        h: float = 12.0,
        max_step: float | None = None,
    ) -> None:
        self.rho_drop, self.rho_spike, self.h = rho_drop, rho_spike, h
        self.max_step = np.inf if max_step is None else max_step
        super().__init__(n)

    def sums(self, cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        x, n, p = cols
        n = np.maximum(n, 0.0)
        x = np.clip(x, 0, n)
        ok = (p > 0) & (p < 1) & (n > 0)  # no rate, no evidence
        p0 = np.clip(p, 1e-6, 1 - 1e-6)
        p_dn = p0 * self.rho_drop
        p_up = np.minimum(p0 * self.rho_spike, (1 + p0) / 2)

        def llr(p1: np.ndarray) -> np.ndarray:
            step = x * np.log(p1 / p0) + (n - x) * np.log((1 - p1) / (1 - p0))
            return np.where(ok, np.minimum(step, self.max_step), 0.0)

        up = np.maximum(0.0, self.state["up"] + llr(p_up))
        return up, np.maximum(0.0, self.state["down"] + llr(p_dn))
