"""`warroom detect`: score one series (CSV `timestamp,value`) online, row by row.

The scorer knows nothing of the series beforehand (public benchmarks look like
NAB or Yahoo S5: server metrics, traffic, seasonal or trending), so it combines
scale-free detectors and takes the strongest: spikes in the value, spikes in its
first difference (so a trend is not an anomaly, a jump in it is) and level shifts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar, TextIO

import numpy as np
import polars as pl

from warroom.detect.level import ForecastZ, LevelShift, RobustZ
from warroom.errors import WarroomError


class DetectInputError(WarroomError):
    """The CSV lacks the named column or has no rows."""


class SeriesScorer:
    """Ensemble over n series: max of RobustZ(x), RobustZ(diff x) and LevelShift(x)."""

    inputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, n: int = 1) -> None:
        self.n = 0
        self.value, self.diff, self.shift = RobustZ(0), RobustZ(0, span=60, z=4.5), LevelShift(0)
        self.forecast = ForecastZ(0, alpha=0.5, z=3.5)
        self.last = np.empty(0)
        self.resize(n)

    def resize(self, n: int) -> None:
        if n <= self.n:
            return
        for d in (self.value, self.diff, self.shift, self.forecast):
            d.resize(n)
        self.last = np.concatenate([self.last, np.full(n - self.n, np.nan)])
        self.n = n

    def _diff(self, x: np.ndarray) -> np.ndarray:
        return x - self.last  # NaN for the first row: no evidence, nothing learnt

    def score_many(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(self.n)
        return np.maximum.reduce(
            [
                self.value.score_many(x),
                0.9 * self.diff.score_many(self._diff(x)),  # a step shows in both; prefer level
                self.shift.score_many(x),
                self.forecast.score_many(x),
            ]
        )

    def learn_many(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=float).reshape(self.n)
        self.diff.learn_many(self._diff(x))
        self.value.learn_many(x)
        self.shift.learn_many(x)
        self.forecast.learn_many(x)
        self.last = np.where(np.isfinite(x), x, self.last)

    def score_one(self, x: float) -> float:
        return float(self.score_many(np.array([x], dtype=float))[0])

    def learn_one(self, x: float) -> None:
        self.learn_many(np.array([x], dtype=float))


def score_values(values: np.ndarray) -> np.ndarray:
    """Scores of one series, each from that row and the rows before it."""
    scorer = SeriesScorer(1)
    out = np.empty(len(values))
    for i, v in enumerate(values.tolist()):
        out[i] = scorer.score_one(v)
        scorer.learn_one(v)
    return out


def detect_csv(path: Path, out: TextIO | None = None, time: str = "", value: str = "") -> int:
    """Read `path`, write `timestamp,anomaly_score` (OUTPUTS.md); returns rows written."""
    frame = pl.read_csv(path, infer_schema=False)  # every column as text, kept verbatim
    if frame.width < 2 and not (time and value):
        raise DetectInputError(f"{path}: needs two columns (timestamp,value)")
    tcol = time or ("timestamp" if "timestamp" in frame.columns else frame.columns[0])
    vcol = value or ("value" if "value" in frame.columns else frame.columns[1])
    for name, opt in ((tcol, "--time"), (vcol, "--value")):
        if name not in frame.columns:
            raise DetectInputError(f"{opt}: no column {name!r} in {path}; has {frame.columns}")
    values = frame[vcol].str.strip_chars().cast(pl.Float64, strict=False).to_numpy()
    scores = score_values(values.astype(float))
    result = pl.DataFrame({"timestamp": frame[tcol], "anomaly_score": np.round(scores, 6)})
    (out or sys.stdout).write(result.write_csv())
    return result.height
