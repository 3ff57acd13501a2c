"""Detectors for a plain series of values (any unit, any scale): level and spikes.

Both learn robustly (Huber-clipped updates), so one outlier does not become the
norm, and both score nothing until they have seen `warmup` rows.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from warroom.detect.protocol import Batched, squash

_MAD = 1.4826  # mean absolute deviation to sigma, roughly, for normal noise


def _alpha(span: float) -> float:
    return 2.0 / (span + 1.0)


class RobustZ(Batched):
    """|x - EW mean| in units of the EW absolute deviation: spikes and dips."""

    _init: ClassVar[dict[str, float]] = {"mean": 0.0, "dev": 0.0, "count": 0.0}

    def __init__(
        self, n: int = 1, span: float = 60.0, z: float = 4.0, scale: float = 2.0, warmup: int = 10
    ) -> None:
        self.alpha, self.z, self.scale, self.warmup = _alpha(span), z, scale, warmup
        super().__init__(n)

    def _zscore(self, x: np.ndarray) -> np.ndarray:
        m, d = self.state["mean"], self.state["dev"]
        floor = 1e-9 + 1e-6 * np.abs(m)  # a constant series still has a scale
        return np.abs(x - m) / (_MAD * d + floor)

    def _score(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        x = cols[0]
        z = self._zscore(x)
        ready = (self.state["count"] >= self.warmup) & np.isfinite(x)
        return np.where(ready, squash(z - self.z, self.scale), 0.0)

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        x = cols[0]
        ok = np.isfinite(x)
        c, m, d = self.state["count"], self.state["mean"], self.state["dev"]
        first = c == 0
        a = np.maximum(self.alpha, 1.0 / (c + 1.0))  # plain average while young
        lim = np.where(c >= self.warmup, 4 * _MAD * d + 1e-9 + 1e-6 * np.abs(m), np.inf)
        r = np.clip(np.where(ok, x - m, 0.0), -lim, lim)
        self.state["mean"] = np.where(ok, np.where(first, x, m + a * r), m)
        self.state["dev"] = np.where(ok & ~first, d + a * (np.abs(r) - d), d)
        self.state["count"] = c + ok


class LevelShift(Batched):
    """A fast EW mean leaving a slow one by more than the noise allows: level moves."""

    _init: ClassVar[dict[str, float]] = {"fast": 0.0, "slow": 0.0, "dev": 0.0, "count": 0.0}

    def __init__(
        self, n: int = 1, fast: float = 6.0, slow: float = 120.0, z: float = 3.0, warmup: int = 20
    ) -> None:
        self.af, self.aslow, self.z, self.warmup = _alpha(fast), _alpha(slow), z, warmup
        # the fast mean of iid noise has sd ~ sigma * sqrt(af / (2 - af))
        self.shrink = float(np.sqrt(self.af / (2 - self.af)))
        super().__init__(n)

    def _fast(self, x: np.ndarray) -> np.ndarray:
        f = self.state["fast"]
        return np.where(self.state["count"] == 0, x, f + self.af * (x - f))

    def _score(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        x = cols[0]
        ok = np.isfinite(x)
        f = self._fast(np.where(ok, x, self.state["fast"]))
        s, d = self.state["slow"], self.state["dev"]
        z = np.abs(f - s) / (_MAD * d * self.shrink + 1e-9 + 1e-6 * np.abs(s))
        ready = (self.state["count"] >= self.warmup) & ok
        return np.where(ready, squash(z - self.z, self.z), 0.0)

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        x = cols[0]
        ok = np.isfinite(x)
        c, s, d = self.state["count"], self.state["slow"], self.state["dev"]
        f = self._fast(np.where(ok, x, self.state["fast"]))
        a = np.maximum(self.aslow, 1.0 / (c + 1.0))
        first = c == 0
        self.state["fast"] = np.where(ok, f, self.state["fast"])
        self.state["slow"] = np.where(ok, np.where(first, x, s + a * (x - s)), s)
        self.state["dev"] = np.where(ok & ~first, d + a * (np.abs(x - s) - d), d)
        self.state["count"] = c + ok


class ForecastZ(Batched):
    """|x - Holt's one-step forecast| in units of the EW absolute forecast error: a
    spike or dip on a trend or a slow cycle, which a mean (RobustZ) mistakes for
    noise (the cycle's swing widens its scale) and a first difference halves (its
    noise is that of two rows). Updates are Huber-clipped, so one outlier does not
    become the level."""

    _init: ClassVar[dict[str, float]] = {"level": 0.0, "trend": 0.0, "dev": 0.0, "count": 0.0}

    def __init__(
        self,
        n: int = 1,
        alpha: float = 0.3,
        beta: float = 0.05,
        span: float = 60.0,
        z: float = 4.0,
        scale: float = 2.0,
        warmup: int = 20,
    ) -> None:
        self.alpha, self.beta, self.a_dev = alpha, beta, _alpha(span)
        self.z, self.scale, self.warmup = z, scale, warmup
        super().__init__(n)

    def _error(self, x: np.ndarray) -> np.ndarray:
        return x - (self.state["level"] + self.state["trend"])

    def _floor(self) -> np.ndarray:
        return 1e-9 + 1e-6 * np.abs(self.state["level"])  # a constant series still has a scale

    def _score(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        x = cols[0]
        z = np.abs(self._error(x)) / (_MAD * self.state["dev"] + self._floor())
        ready = (self.state["count"] >= self.warmup) & np.isfinite(x)
        return np.where(ready, squash(z - self.z, self.scale), 0.0)

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        x = cols[0]
        ok = np.isfinite(x)
        c, lvl, tr, d = (self.state[k] for k in ("count", "level", "trend", "dev"))
        first = c == 0
        err = np.where(ok, self._error(np.where(ok, x, 0.0)), 0.0)
        lim = np.where(c >= self.warmup, 4 * _MAD * d + self._floor(), np.inf)
        e = np.clip(err, -lim, lim)
        a = np.maximum(self.alpha, 1.0 / (c + 1.0))
        new_level = lvl + tr + a * e
        new_trend = tr + self.beta * (new_level - lvl - tr)
        ad = np.maximum(self.a_dev, 1.0 / (c + 1.0))
        self.state["dev"] = np.where(ok & ~first, d + ad * (np.abs(e) - d), d)
        self.state["level"] = np.where(ok, np.where(first, x, new_level), lvl)
        self.state["trend"] = np.where(ok & ~first, new_trend, tr)
        self.state["count"] = c + ok
