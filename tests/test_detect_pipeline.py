"""The watch on cube cells: the planned surge is quiet, real moves alert once, on the
slice that explains them; on a small simulated day, every KPI incident is found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from warroom.alerts.model import Alert
from warroom.cli import app
from warroom.detect.evaluate import KPI_KINDS, evaluate
from warroom.detect.pipeline import Watch
from warroom.engine.cube import GSET_ID
from warroom.sim import SimConfig, simulate

MIDNIGHT = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00
REGIONS = {"CN-GD": 0.3, "CN-ZJ": 0.25, "CN-JS": 0.2, "US-CA": 0.15, "JP-13": 0.1}
CHANNELS = {"app": 0.6, "web": 0.3, "mini": 0.1}


def synthetic_cells(
    rng: np.random.Generator, seconds: int, dark: tuple[str, int, int] | None = None
) -> pl.DataFrame:
    """Cells of a day that surges x20 at 00:00 and decays, with a fixed mix; `dark`
    = (region, from second, to second) sells nothing there."""
    rows = []
    for s in range(seconds):
        win = MIDNIGHT - 60_000 + s * 1000
        t = s - 60
        level = 30.0 * (1 + (19 * np.exp(-t / 40) if t >= 0 else 0))
        cell = {}
        for r, pr in REGIONS.items():
            for c, pc in CHANNELS.items():
                n = rng.poisson(level * pr * pc)
                if dark and r == dark[0] and dark[1] <= s < dark[2]:
                    n = 0
                cell[(r, c)] = n
        by = {("region", "channel"): cell}
        by[("region",)] = {(r,): sum(v for (rr, _), v in cell.items() if rr == r) for r in REGIONS}
        by[("channel",)] = {
            (c,): sum(v for (_, cc), v in cell.items() if cc == c) for c in CHANNELS
        }
        by[()] = {(): sum(cell.values())}
        for gset, values in by.items():
            for key, n in values.items():
                k = [*key, "", ""][:2]
                visits = n * 10
                rows.append((win, GSET_ID[gset], k[0], k[1], n, visits, n, n, 0))
    cols = ["win", "gset", "k1", "k2", "orders", "visits", "pay_successes", "pay_attempts"]
    return pl.DataFrame(rows, schema=[*cols, "refunds"], orient="row")


def run_watch(cells: pl.DataFrame, step: int = 5) -> list[Alert]:
    out: list[Alert] = []
    watch = Watch(out.append)
    wins = cells["win"].unique().sort().to_list()
    for i in range(0, len(wins), step):
        watch.process(cells.filter(pl.col("win").is_in(wins[i : i + step])))
    return out


def test_the_midnight_surge_is_the_plan_not_an_anomaly() -> None:
    alerts = run_watch(synthetic_cells(np.random.default_rng(0), 360))
    assert alerts == []


def test_a_dark_region_alerts_once_on_that_region_then_resolves() -> None:
    cells = synthetic_cells(np.random.default_rng(1), 360, dark=("CN-ZJ", 250, 280))
    alerts = run_watch(cells)
    firing = [a for a in alerts if a.state == "firing"]
    assert {(a.metric, json.dumps(a.scope)) for a in firing} == {
        ("orders", '{"region": "CN-ZJ"}'),
        ("visits", '{"region": "CN-ZJ"}'),
    }
    start = MIDNIGHT - 60_000 + 250_000
    assert all(start < a.ts <= start + 5_000 for a in firing)
    assert all(a.direction == "drop" and a.severity == "critical" for a in firing)
    resolved = {a.id: a.ts for a in alerts if a.state == "resolved"}
    assert set(resolved) == {a.id for a in firing}
    assert all(ts > start + 30_000 for ts in resolved.values())


def test_batching_of_the_input_does_not_change_the_alerts() -> None:
    cells = synthetic_cells(np.random.default_rng(2), 300, dark=("CN-GD", 200, 230))
    assert run_watch(cells, step=1) == run_watch(cells, step=17)


@pytest.fixture(scope="module")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SimConfig(minutes=4, rate=60, seed=5), out)
    return out


def test_small_simulated_day_every_kpi_incident_found_on_its_scope(small_day: Path) -> None:
    report = evaluate(small_day)
    kpi = [f for f in report.findings if f.kind in KPI_KINDS]
    assert len(kpi) == 4
    for f in kpi:
        assert f.detected, f
        assert f.exact, f
        assert f.ttd_ms is not None and f.ttd_ms <= 10_000, f
    assert len(report.false_alerts) <= 2


def test_alerts_out_is_deterministic_and_follows_outputs_md(
    small_day: Path, tmp_path: Path
) -> None:
    outs = []
    # two batch sizes: the engine finalises different runs of seconds at a time
    for k, batch_bytes in enumerate((1 << 18, 3 << 20)):
        path = tmp_path / f"alerts{k}.ndjson"
        args = [
            "run",
            "--events",
            str(small_day / "events.ndjson"),
            "--data",
            str(tmp_path / f"d{k}"),
            "--rates",
            str(small_day / "rates.json"),
            "--catalog",
            str(small_day / "catalog.ndjson"),
            "--quiet",
            "--alerts-out",
            str(path),
            "--batch-bytes",
            str(batch_bytes),
        ]
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        outs.append(path.read_bytes())
    assert outs[0] == outs[1] and outs[0]
    records = [json.loads(line) for line in outs[0].decode().splitlines()]
    fired: dict[str, int] = {}
    for r in records:
        assert set(r) == {
            "id",
            "state",
            "ts",
            "source",
            "metric",
            "scope",
            "direction",
            "observed",
            "expected",
            "score",
            "severity",
            "summary",
        }
        assert r["source"] == "kpi" and r["direction"] in ("drop", "spike", "change")
        assert 0 <= r["score"] <= 1 and r["severity"] in ("info", "warning", "critical")
        if r["state"] == "firing":
            assert r["id"] not in fired
            fired[r["id"]] = r["ts"]
        else:
            assert r["id"] in fired and r["ts"] > fired[r["id"]]
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)
