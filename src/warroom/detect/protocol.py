"""One small protocol for every detector: River's `learn_one` / `score_one`, and the
same over many series at once (`learn_many` / `score_many`, arrays in, arrays out).

A detector holds the state of `n` series in NumPy arrays. `score_*` never changes
state (so scoring is online: a row's score uses only that row and earlier ones);
`learn_*` folds the row in. Scores are in 0..1, higher is more anomalous, and 0.5
is each detector's own alarm level; thresholds are wrappers (`Threshold`).

Inputs are named by `inputs`: ("value",) for a plain series, ("observed",
"expected") for counts judged against a baseline, ("successes", "trials") for
ratios judged with their sample size. `x` is then a float, or a tuple of floats,
per series; the batched form takes shape (n,) or (n, len(inputs)).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

ALARM = 0.5  # every detector scores its own alarm level as 0.5


@runtime_checkable
class Detector(Protocol):
    inputs: ClassVar[tuple[str, ...]]
    n: int

    def learn_one(self, x: Any) -> None: ...
    def score_one(self, x: Any) -> float: ...
    def learn_many(self, x: np.ndarray) -> None: ...
    def score_many(self, x: np.ndarray) -> np.ndarray: ...
    def resize(self, n: int) -> None: ...


class Batched:
    """Base: state is a dict of per-series arrays; the one-series form is n = 1.

    Subclasses set `inputs` and `_init` (state name -> initial value) and implement
    `_score(state, cols)` and `_learn(state, cols)` on column arrays.
    """

    inputs: ClassVar[tuple[str, ...]] = ("value",)
    _init: ClassVar[dict[str, float]] = {}

    def __init__(self, n: int = 1) -> None:
        self.n = 0
        self.state: dict[str, np.ndarray] = {k: np.empty(0) for k in self._init}
        self.resize(n)

    def resize(self, n: int) -> None:
        """Grow to n series; new ones start from the initial state."""
        if n <= self.n:
            return
        for k, v in self._init.items():
            self.state[k] = np.concatenate([self.state[k], np.full(n - self.n, v, dtype=float)])
        self.n = n

    # -- the protocol -------------------------------------------------------------
    def score_one(self, x: Any) -> float:
        return float(self.score_many(self._row(x))[0])

    def learn_one(self, x: Any) -> None:
        self.learn_many(self._row(x))

    def score_many(self, x: np.ndarray) -> np.ndarray:
        cols = self._cols(x)
        return np.clip(np.nan_to_num(self._score(cols), nan=0.0), 0.0, 1.0)

    def learn_many(self, x: np.ndarray) -> None:
        self._learn(self._cols(x))

    # -- subclass hooks -----------------------------------------------------------
    def _score(self, cols: tuple[np.ndarray, ...]) -> np.ndarray:
        raise NotImplementedError

    def _learn(self, cols: tuple[np.ndarray, ...]) -> None:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------
    def _row(self, x: Any) -> np.ndarray:
        if self.n != 1:
            raise ValueError(f"score_one/learn_one: detector holds {self.n} series, not 1")
        return np.asarray(x, dtype=float).reshape(1, len(self.inputs))

    def _cols(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        a = np.asarray(x, dtype=float)
        if a.ndim == 1 and len(self.inputs) == 1:
            a = a[:, None]
        if a.shape != (self.n, len(self.inputs)):
            raise ValueError(
                f"x: expected shape ({self.n}, {len(self.inputs)}) for inputs "
                f"{self.inputs}, got {a.shape}"
            )
        return tuple(a[:, i] for i in range(a.shape[1]))


class Threshold:
    """Turns a detector's score into a yes/no at a chosen level."""

    def __init__(self, detector: Detector, level: float = ALARM) -> None:
        self.detector, self.level = detector, level

    def alarm_many(self, x: np.ndarray) -> np.ndarray:
        return self.detector.score_many(x) >= self.level


def squash(evidence: np.ndarray, scale: float) -> np.ndarray:
    """Evidence >= 0 to 0..1 with `scale` at 0.5: e / (e + scale)."""
    e = np.maximum(evidence, 0.0)
    return e / (e + scale)
