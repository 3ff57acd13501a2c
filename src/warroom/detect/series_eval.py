"""How well `warroom detect` finds labelled anomalies in generic series.

`python -m warroom.detect.series_eval --data DIR --labels LABELS.json [--half tune|report]`
reads a NAB-style corpus (DIR/<name>.csv files of `timestamp,value`, and a JSON map
name -> list of [start, end] timestamp windows, NAB's `combined_windows.json`),
scores each series online and prints, per series and overall: windows detected at
the alarm level (a score >= 0.5 inside the window), false alarm events (rising
edges above it outside every window, after NAB's probationary 15 %), and the best
event F1 over thresholds. `--half` keeps one half of the series (a fixed split by
name): tune on one half, report on the other. `--synthetic N` scores N generated series
instead (`synthetic_corpus`): no third-party data needed.
"""

from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from warroom.detect.protocol import ALARM
from warroom.detect.series import score_values

PROBATION = 0.15  # NAB: the first 15 % of a series is for learning, not judged


@dataclass
class SeriesResult:
    name: str
    rows: int
    windows: int
    detected: int  # windows with an alarm inside, at the alarm level
    false_alarms: int  # alarm events outside windows, after the probation
    best_f1: float
    best_threshold: float


def _events(alarm: np.ndarray) -> np.ndarray:
    """Rising edges of a boolean series: one event per run of alarms."""
    return np.flatnonzero(alarm & ~np.r_[False, alarm[:-1]])


def judge(
    scores: np.ndarray, windows: list[tuple[int, int]], threshold: float = ALARM
) -> tuple[int, int]:
    """(windows detected, false alarm events) at a threshold; windows are row ranges
    [lo, hi] inclusive."""
    n = len(scores)
    inside = np.zeros(n, dtype=bool)
    for lo, hi in windows:
        inside[lo : hi + 1] = True
    alarm = scores >= threshold
    detected = sum(bool(alarm[lo : hi + 1].any()) for lo, hi in windows)
    start = int(n * PROBATION)
    ev = _events(alarm)
    false = int(np.sum((ev >= start) & ~inside[ev]))
    return detected, false


def best_f1(scores: np.ndarray, windows: list[tuple[int, int]]) -> tuple[float, float]:
    """Best event F1 over thresholds: recall = windows detected / windows, precision =
    windows detected / (windows detected + false alarm events). A series without
    windows scores 1 when it raises no alarm at some threshold."""
    best, at = 0.0, 1.0
    for th in np.linspace(0.05, 0.95, 19):
        tp, fp = judge(scores, windows, float(th))
        if not windows:
            f1 = 1.0 if fp == 0 else 0.0
        else:
            rec = tp / len(windows)
            prec = tp / (tp + fp) if tp + fp else 0.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        if f1 > best:
            best, at = f1, float(th)
    return best, at


def evaluate_series(name: str, values: np.ndarray, windows: list[tuple[int, int]]) -> SeriesResult:
    scores = score_values(values)
    detected, false = judge(scores, windows)
    f1, th = best_f1(scores, windows)
    return SeriesResult(name, len(values), len(windows), detected, false, f1, th)


def _rows_of(times: list[str], windows: list[list[str]]) -> list[tuple[int, int]]:
    """Timestamp windows to row ranges (timestamps compared as parsed datetimes)."""
    t = pl.Series(times).str.to_datetime(strict=False).to_numpy()
    out = []
    for a, b in windows:
        lo_hi = pl.Series([a, b]).str.to_datetime(strict=False).to_numpy()
        rows = np.flatnonzero((t >= lo_hi[0]) & (t <= lo_hi[1]))
        if len(rows):
            out.append((int(rows[0]), int(rows[-1])))
    return out


def load_corpus(data: Path, labels: Path) -> list[tuple[str, np.ndarray, list[tuple[int, int]]]]:
    spec = json.loads(labels.read_text())
    out = []
    for name in sorted(spec):
        path = data / name
        if not path.exists():
            continue
        frame = pl.read_csv(path, infer_schema=False)
        tcol, vcol = frame.columns[0], frame.columns[1]
        values = frame[vcol].cast(pl.Float64, strict=False).to_numpy().astype(float)
        out.append((name, values, _rows_of(frame[tcol].to_list(), spec[name])))
    return out


def synthetic_corpus(n: int, seed: int = 0) -> list[tuple[str, np.ndarray, list[tuple[int, int]]]]:
    """Generic series of several kinds, each with labelled anomalies: seasonal
    (periods 24-288) with noise, random walks, trends, low counts; anomalies are
    spikes, dips, level shifts, a flat stretch where a cycle was due, and a noise
    burst. Windows are 2 % of the series around each anomaly (NAB's ~10 % is split
    among its anomalies)."""
    rng = np.random.default_rng(seed)
    kinds = ("seasonal", "walk", "trend", "counts")
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        length = int(rng.integers(1500, 4000))
        t = np.arange(length)
        period = int(rng.choice([24, 96, 144, 288]))
        scale = float(10 ** rng.uniform(-2, 4))  # any unit, any size
        noise = rng.normal(0, 1, length)
        if kind == "seasonal":
            x = 5 * np.sin(2 * np.pi * t / period) + noise
        elif kind == "walk":
            x = np.cumsum(rng.normal(0, 0.3, length)) + noise
        elif kind == "trend":
            x = t * rng.uniform(-0.01, 0.01) + 3 * np.sin(2 * np.pi * t / period) + noise
        else:
            lam = 3 + 2 * np.sin(2 * np.pi * t / period)
            x = rng.poisson(lam).astype(float)
        windows = []
        for at in np.sort(rng.choice(np.arange(int(length * 0.25), length - 50), 2, replace=False)):
            what = rng.choice(["spike", "dip", "shift", "flat", "burst"])
            sd = 1.0 if kind != "counts" else 2.0
            if what == "spike":
                x[at] += 8 * sd
            elif what == "dip":
                x[at] -= 8 * sd
            elif what == "shift":
                x[at:] += rng.choice([-1, 1]) * 5 * sd
            elif what == "flat":
                x[at : at + period] = x[at]
            else:
                x[at : at + 30] += rng.normal(0, 5 * sd, 30)
            half = max(5, int(length * 0.01))
            windows.append((int(at), int(min(length - 1, at + half))))
        out.append((f"synthetic/{i:03d}_{kind}.csv", x * scale, windows))
    return out


def report(results: list[SeriesResult]) -> dict:
    windows = sum(r.windows for r in results)
    rows = sum(r.rows for r in results)
    return {
        "series": len(results),
        "windows": windows,
        "detected_at_alarm": sum(r.detected for r in results),
        "detection_rate": round(sum(r.detected for r in results) / windows, 3) if windows else None,
        "false_alarms": sum(r.false_alarms for r in results),
        "false_alarms_per_1000_rows": round(1000 * sum(r.false_alarms for r in results) / rows, 3),
        "mean_best_f1": round(float(np.mean([r.best_f1 for r in results])), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path)
    p.add_argument("--labels", type=Path)
    p.add_argument("--synthetic", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--half", choices=("tune", "report", "all"), default="all")
    a = p.parse_args()
    if a.synthetic:
        corpus = synthetic_corpus(a.synthetic, a.seed)
    elif a.data and a.labels:
        corpus = load_corpus(a.data, a.labels)
    else:
        p.error("give --data and --labels, or --synthetic N")
    if a.half != "all":  # a fixed split by name, whatever the order or kind
        want = 0 if a.half == "tune" else 1
        corpus = [c for c in corpus if zlib.crc32(c[0].encode()) % 2 == want]
    results = [evaluate_series(n, v, w) for n, v, w in corpus]
    for r in results:
        print(
            f"{r.name:<60} rows {r.rows:6d}  windows {r.detected}/{r.windows}  "
            f"false {r.false_alarms:3d}  best F1 {r.best_f1:.2f} at {r.best_threshold:.2f}"
        )
    print(json.dumps(report(results)))


if __name__ == "__main__":
    main()
