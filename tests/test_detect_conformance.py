"""Every detector in warroom.detect.DETECTORS passes the same generic checks."""

from __future__ import annotations

import numpy as np
import pytest

from warroom.detect import ALARM, DETECTORS, Detector


def normal_rows(inputs: tuple[str, ...], rng: np.random.Generator, t: int, n: int) -> np.ndarray:
    """t ticks of ordinary data for n series, shaped (t, n, len(inputs))."""
    if inputs == ("value",):
        level = rng.uniform(5, 50, n)
        return (level + rng.normal(0, 1, (t, n)))[..., None]
    if inputs == ("observed", "expected"):
        mu = rng.uniform(5, 30, n) * np.ones((t, 1))
        return np.stack([rng.poisson(mu).astype(float), mu], axis=-1)
    if inputs == ("successes", "trials"):
        trials = rng.poisson(40, (t, n)).astype(float)
        return np.stack([rng.binomial(trials.astype(int), 0.95).astype(float), trials], axis=-1)
    if inputs == ("successes", "trials", "rate"):  # a rate given by a baseline
        trials = rng.poisson(400, (t, n)).astype(float)
        rate = np.full((t, n), 0.05)
        succ = rng.binomial(trials.astype(int), 0.05).astype(float)
        return np.stack([succ, trials, rate], axis=-1)
    raise AssertionError(f"no generator for inputs {inputs}")


def anomalous_row(inputs: tuple[str, ...], row: np.ndarray) -> np.ndarray:
    """The same row, badly broken: a spike, a drop to zero, a failed gateway."""
    out = row.copy()
    if inputs == ("value",):
        out[:, 0] = out[:, 0] + 40
    elif inputs == ("observed", "expected"):
        out[:, 0] = 0
    elif inputs == ("successes", "trials", "rate"):
        out[:, 0] = out[:, 1] * 0.3  # six times the rate: refunds pouring in
    else:
        out[:, 0] = 0
    return out


@pytest.fixture(params=sorted(DETECTORS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_speaks_the_protocol(name: str) -> None:
    det = DETECTORS[name](3)
    assert isinstance(det, Detector)
    assert det.n == 3 and isinstance(det.inputs, tuple) and det.inputs


def test_scores_in_unit_interval_and_finite(name: str) -> None:
    cls = DETECTORS[name]
    rng = np.random.default_rng(1)
    data = normal_rows(cls.inputs, rng, 120, 5)
    det = cls(5)
    for row in data:
        s = det.score_many(row)
        assert s.shape == (5,) and np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
        det.learn_many(row)
    broken = det.score_many(anomalous_row(cls.inputs, data[-1]))
    assert np.all((broken >= 0) & (broken <= 1))


def test_quiet_on_normal_data_and_alarms_on_a_break(name: str) -> None:
    cls = DETECTORS[name]
    rng = np.random.default_rng(2)
    data = normal_rows(cls.inputs, rng, 150, 20)
    det = cls(20)
    worst = 0.0
    for t, row in enumerate(data):
        if t >= 40:
            worst = max(worst, float(det.score_many(row).max()))
        det.learn_many(row)
    assert worst < ALARM
    broken = anomalous_row(cls.inputs, data[-1])
    scores = []
    for _ in range(6):  # evidence may need a few ticks (CUSUM), never more than six
        scores.append(det.score_many(broken))
        det.learn_many(broken)
    assert np.all(np.max(scores, axis=0) >= ALARM)


def test_batch_equals_one_series_at_a_time(name: str) -> None:
    cls = DETECTORS[name]
    rng = np.random.default_rng(3)
    data = normal_rows(cls.inputs, rng, 60, 4)
    data[50] = anomalous_row(cls.inputs, data[50])
    batch = cls(4)
    singles = [cls(1) for _ in range(4)]
    for row in data:
        got = batch.score_many(row)
        for i, d in enumerate(singles):
            x = row[i] if len(cls.inputs) > 1 else float(row[i, 0])
            assert d.score_one(x) == pytest.approx(got[i], abs=1e-12)
            d.learn_one(x)
        batch.learn_many(row)


def test_online_score_does_not_change_state(name: str) -> None:
    """score_* is pure, so a row's score cannot depend on rows after it."""
    cls = DETECTORS[name]
    rng = np.random.default_rng(4)
    data = normal_rows(cls.inputs, rng, 50, 3)
    a, b = cls(3), cls(3)
    for row in data:
        a.score_many(row)
        a.score_many(anomalous_row(cls.inputs, row))  # peeking must not matter
        a.learn_many(row)
        b.learn_many(row)
    np.testing.assert_array_equal(a.score_many(data[0]), b.score_many(data[0]))


def test_grows_to_more_series(name: str) -> None:
    cls = DETECTORS[name]
    det = cls(2)
    det.resize(5)
    assert det.n == 5
    rng = np.random.default_rng(5)
    row = normal_rows(cls.inputs, rng, 1, 5)[0]
    assert det.score_many(row).shape == (5,)


def test_rejects_a_wrong_shape(name: str) -> None:
    cls = DETECTORS[name]
    det = cls(3)
    with pytest.raises(ValueError):
        det.score_many(np.zeros((2, len(cls.inputs))))
