"""`warroom detect`: one series in, timestamp,anomaly_score out, online."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from warroom.cli import app
from warroom.detect.series import detect_csv, score_values


def _series(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    daily = 10 * np.sin(np.arange(n) * 2 * np.pi / 100)
    return 100 + daily + rng.normal(0, 1, n)


def test_one_row_per_input_row_scores_in_unit_interval(tmp_path: Path) -> None:
    x = _series()
    path = tmp_path / "s.csv"
    pl.DataFrame(
        {
            "timestamp": [f"2026-11-11 00:{i // 60:02d}:{i % 60:02d}" for i in range(len(x))],
            "value": x,
        }
    ).write_csv(path)
    out = io.StringIO()
    assert detect_csv(path, out) == len(x)
    got = pl.read_csv(io.StringIO(out.getvalue()))
    assert got.columns == ["timestamp", "anomaly_score"]
    assert got.height == len(x)
    assert got["timestamp"].to_list()[:2] == ["2026-11-11 00:00:00", "2026-11-11 00:00:01"]
    assert got["anomaly_score"].min() >= 0 and got["anomaly_score"].max() <= 1


def test_no_look_ahead() -> None:
    """The score of row i is the same whether or not later rows exist."""
    x = _series()
    x[250] += 30
    full = score_values(x)
    for cut in (100, 251, 300):
        np.testing.assert_array_equal(score_values(x[:cut]), full[:cut])


def test_spike_and_level_shift_outscore_ordinary_rows() -> None:
    x = _series(seed=3)
    x[200] += 25  # a spike
    x[300:] -= 20  # a level shift
    s = score_values(x)
    ordinary = np.r_[s[50:195], s[205:295]]
    assert s[200] > 0.5 > np.quantile(ordinary, 0.99)
    assert s[300:310].max() > 0.5


def test_missing_and_text_values_score_zero_and_do_not_poison() -> None:
    x = _series()
    x[150] = np.nan
    s = score_values(x)
    assert s[150] == 0.0
    assert np.all(np.isfinite(s))
    assert np.quantile(s[160:], 0.95) < 0.5


def test_cli_named_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("t,v,other\n1,1.0,x\n2,1.5,x\n3,,x\n4,2.0,x\n")
    res = CliRunner().invoke(app, ["detect", "--input", str(path), "--time", "t", "--value", "v"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "timestamp,anomaly_score" and len(lines) == 5
    assert [ln.split(",")[0] for ln in lines[1:]] == ["1", "2", "3", "4"]


def test_cli_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("timestamp,value\n1,2\n")
    res = CliRunner().invoke(app, ["detect", "--input", str(path), "--value", "nope"])
    assert res.exit_code == 2
    assert "--value" in res.output
