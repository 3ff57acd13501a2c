"""Baselines that expect the day's shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from warroom.detect.baseline import Curve, MarketBaseline, Plan, ShareBaseline

MIDNIGHT = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00


def test_plan_knows_the_double_eleven_midnight() -> None:
    plan = Plan.double_eleven(MIDNIGHT - 30_000)
    assert plan.planned(MIDNIGHT) and plan.planned(MIDNIGHT + 119_000)
    assert not plan.planned(MIDNIGHT + 121_000) and not plan.planned(MIDNIGHT - 20_000)


def test_holt_on_logs_follows_an_exponential_decay() -> None:
    base = MarketBaseline()
    errors = []
    for s in range(200):
        x = 2000 * np.exp(-s / 50) + 100
        if s > 60:
            errors.append(abs(base.expected(s) - x) / x)
        base.learn(x, s)
    assert max(errors) < 0.05


def test_rehearsal_curve_scaled_to_today(tmp_path: Path) -> None:
    path = tmp_path / "last_year.csv"
    path.write_text("offset_s,orders\n0,100\n60,2000\n600,300\n")
    curve = Curve.load(path, MIDNIGHT)
    base = MarketBaseline(curve=curve)
    for s in range(0, 30):  # today runs at half of last year
        base.learn(0.5 * curve.at(MIDNIGHT + s * 1000), MIDNIGHT + s * 1000)
    assert abs(base.expected(MIDNIGHT + 60_000) - 1000) < 1


def test_share_level_ignores_one_slice_that_moved() -> None:
    """When one of four channels spikes x5, the others still expect what they had."""
    share = ShareBaseline(min_mass=0)
    share.resize(4)
    x = np.array([600.0, 300.0, 60.0, 40.0])
    groups = {("channel",): np.arange(4)}
    for _ in range(100):
        share.learn(x, x.sum(), frozen=np.zeros(4, bool))
    spiked = x.copy()
    spiked[2] = 300.0
    mu, _ = share.expected(spiked, spiked.sum(), groups)
    np.testing.assert_allclose(mu[[0, 1, 3]], x[[0, 1, 3]], rtol=1e-6)
    assert spiked[2] > 4 * mu[2]
