"""`warroom detect` on generic labelled series (python -m warroom.detect.series_eval):
the scoring of windows, a NAB-layout corpus read from disk, and generated series of
several shapes, where the forecast-error detector finds what the others missed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from warroom.detect.series import score_values
from warroom.detect.series_eval import (
    best_f1,
    evaluate_series,
    judge,
    load_corpus,
    report,
    synthetic_corpus,
)


def test_judge_counts_windows_and_false_alarm_events() -> None:
    scores = np.zeros(100)
    scores[[30, 31, 32]] = 0.9  # one event inside the window
    scores[[70, 80]] = 0.8  # two events outside
    scores[5] = 0.9  # inside the probation: not counted
    assert judge(scores, [(25, 40), (50, 60)]) == (1, 2)
    f1, at = best_f1(scores, [(25, 40)])
    assert f1 == 1.0 and 0.8 < at <= 0.9  # above the outside events, below the inside one
    assert best_f1(np.zeros(100), []) == (1.0, 0.05)


def test_a_spike_on_a_trending_cycle_alarms() -> None:
    # a mean's scale is widened by the cycle's swing and a difference doubles the
    # noise: only the one-step forecast error sees an 8-sigma spike here
    rng = np.random.default_rng(4)
    t = np.arange(2000)
    x = 0.005 * t + 5 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 1, len(t))
    x[1500] += 8
    s = score_values(x)
    assert s[1500] >= 0.5
    assert np.quantile(s[300:1490], 0.999) < 0.5


def test_a_nab_layout_corpus_is_read_by_timestamps(tmp_path: Path) -> None:
    rows = [f"2014-04-01 {h:02d}:{m:02d}:00" for h in range(10) for m in range(0, 60, 5)]
    rng = np.random.default_rng(0)
    values = 10 + rng.normal(0, 1, len(rows))
    values[100] = 40
    (tmp_path / "data" / "kind").mkdir(parents=True)
    body = "\n".join(f"{t},{v}" for t, v in zip(rows, values, strict=True))
    (tmp_path / "data" / "kind" / "s.csv").write_text("timestamp,value\n" + body + "\n")
    labels = {"kind/s.csv": [["2014-04-01 08:10:00.000000", "2014-04-01 08:30:00.000000"]]}
    (tmp_path / "w.json").write_text(json.dumps(labels))
    ((name, vals, windows),) = load_corpus(tmp_path / "data", tmp_path / "w.json")
    assert name == "kind/s.csv" and len(vals) == 120 and windows == [(98, 102)]
    result = evaluate_series(name, vals, windows)
    assert (result.detected, result.false_alarms) == (1, 0)


def test_generated_series_of_every_shape_are_mostly_found_without_crying_wolf() -> None:
    corpus = synthetic_corpus(8, seed=3)
    assert {n.split("_")[1] for n, _, _ in corpus} == {
        "seasonal.csv",
        "walk.csv",
        "trend.csv",
        "counts.csv",
    }
    summary = report([evaluate_series(n, v, w) for n, v, w in corpus])
    assert summary["windows"] == 16
    assert summary["detection_rate"] >= 0.3
    assert summary["false_alarms_per_1000_rows"] <= 0.5
