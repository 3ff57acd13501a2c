"""The watch's detection: detectors, baselines, root cause and the pipeline."""

from __future__ import annotations

from warroom.detect.counts import BinomialCusum, DropToZero, PoissonCusum, RateCusum
from warroom.detect.level import LevelShift, RobustZ
from warroom.detect.protocol import ALARM, Batched, Detector, Threshold
from warroom.detect.series import SeriesScorer

# Every detector, found by the conformance test (tests/test_detect_conformance.py).
DETECTORS: dict[str, type] = {
    "robust_z": RobustZ,
    "level_shift": LevelShift,
    "series": SeriesScorer,
    "poisson_cusum": PoissonCusum,
    "drop_to_zero": DropToZero,
    "binomial_cusum": BinomialCusum,
    "rate_cusum": RateCusum,
}

__all__ = ["ALARM", "DETECTORS", "Batched", "Detector", "Threshold"]
