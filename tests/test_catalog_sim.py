"""The catalog guard over simulated days: every injected scramble and price error
found within 10 s with exact SKU lists, the harmless edits left alone, and the
command line around it (run, eval, blast, restore, respond)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.cli import app
from warroom.guards.catalog.evaluate import evaluate_dir
from warroom.sim import SimConfig, simulate

KINDS = ["sku_scramble", "price_error", "payment_outage"]
BATCH = 256 << 10


_DAYS: dict[int, Path] = {}


def _day(seed: int, factory: pytest.TempPathFactory) -> Path:
    if seed not in _DAYS:
        out = factory.mktemp(f"sim{seed}")
        simulate(SimConfig(minutes=2, rate=40, seed=seed, scenarios=tuple(KINDS)), out)
        _DAYS[seed] = out
    return _DAYS[seed]


@pytest.fixture(params=[11, 12])
def day(request, tmp_path_factory) -> Path:
    return _day(request.param, tmp_path_factory)


@pytest.fixture
def one_day(tmp_path_factory) -> Path:
    return _day(11, tmp_path_factory)


def test_every_incident_found_fast_and_exactly(day: Path) -> None:
    result = evaluate_dir(day)
    kinds = sorted(i["kind"] for i in result["incidents"])
    assert kinds == ["price_error", "sku_scramble"]
    for inc in result["incidents"]:
        assert inc["detected"], inc
        assert 0 <= inc["ttd_ms"] <= 10_000, inc
        assert inc["sku_precision"] == inc["sku_recall"] == 1.0, inc
        assert inc["alerts"] == 1
    assert result["unmatched_findings"] == []
    assert result["harmless_edit_findings"] == []
    assert result["sku_changes"] > 0


def test_the_commands_end_to_end(one_day: Path, tmp_path: Path) -> None:
    day = one_day
    cli = CliRunner()
    data, alerts = tmp_path / "state", tmp_path / "catalog-alerts.ndjson"
    got = cli.invoke(
        app,
        [
            "run",
            "--events",
            str(day / "events.ndjson"),
            "--catalog",
            str(day / "catalog.ndjson"),
            "--rates",
            str(day / "rates.json"),
            "--data",
            str(data),
            "--quiet",
            "--catalog-alerts-out",
            str(alerts),
        ],
    )
    assert got.exit_code == 0, got.output
    records = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert {r["source"] for r in records} == {"catalog"}
    assert sorted(r["state"] for r in records) == ["firing", "firing"]
    labels = {lab["kind"]: lab for lab in json.loads((day / "labels.json").read_text())}
    blast = [
        json.loads(line)
        for line in cli.invoke(app, ["catalog", "blast", "--data", str(data)]).stdout.splitlines()
    ]
    by_skus = {tuple(b["entities"]["skus"]): b for b in blast}
    for kind in ("sku_scramble", "price_error"):
        want = tuple(sorted(labels[kind]["entities"]["skus"]))
        assert want in by_skus, kind
        assert by_skus[want]["entities"]["merchants"] == sorted(
            labels[kind]["entities"]["merchants"]
        )
    restore = cli.invoke(app, ["catalog", "restore", "--data", str(data)]).stdout.splitlines()
    catalog = {}
    for line in (day / "catalog.ndjson").read_text().splitlines():
        doc = json.loads(line)
        catalog[doc["sku_id"]] = doc
    assert len(restore) == sum(
        len(lab["entities"]["skus"])
        for k, lab in labels.items()
        if k in ("sku_scramble", "price_error")
    )
    for line in restore:
        doc = json.loads(line)
        snap = catalog[doc["sku_id"]]
        assert (doc["attrs"], doc["price"], doc["currency"]) == (
            snap["attrs"],
            snap["price"],
            snap["currency"],
        )
    plan = cli.invoke(app, ["catalog", "respond", "--data", str(data), "--dry-run", "--json"])
    actions = json.loads(plan.stdout)["actions"]
    notified = {a["merchant"] for a in actions if a["action"] == "notify_merchant"}
    assert notified == set(labels["sku_scramble"]["entities"]["merchants"]) | set(
        labels["price_error"]["entities"]["merchants"]
    )
    real = cli.invoke(app, ["catalog", "respond", "--data", str(data), "--json", "--by", "oncall"])
    assert real.exit_code == 0, real.output
    assert json.loads(real.stdout)["actions"] == actions  # the dry run listed what it did
    missing = cli.invoke(app, ["catalog", "blast", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and not (tmp_path / "nope").exists()
    out = tmp_path / "csv"
    assert (
        cli.invoke(app, ["catalog", "blast", "--data", str(data), "--out-dir", str(out)]).exit_code
        == 0
    )
    assert {p.stem for p in out.iterdir()} == notified


def _replay(day: Path, data: Path, alerts: Path, crash_after: int | None = None) -> None:
    from warroom.guards.catalog.attach import Attached
    from warroom.runner import Runner, RunOptions

    opts = RunOptions(
        events=str(day / "events.ndjson"),
        data_dir=data,
        rates=day / "rates.json",
        batch_bytes=BATCH,
        checkpoint_seconds=0.0,
    )
    runner = Runner(opts)
    attached = Attached(runner, day / "catalog.ndjson", alerts)
    if crash_after is not None:
        inner, steps = runner.on_step, [0]

        def crashing(step) -> None:  # type: ignore[no-untyped-def]
            steps[0] += 1
            if steps[0] > crash_after:
                raise RuntimeError("killed")
            inner(step)

        runner.on_step = crashing
        with pytest.raises(RuntimeError):
            runner.run()
        attached.fh.close()
        runner.store.engine.dispose()
        return
    runner.run()
    attached.close()
    runner.store.engine.dispose()


def test_a_resumed_run_ends_with_the_same_findings(one_day: Path, tmp_path: Path) -> None:
    from warroom.guards.catalog.store import CatalogStore
    from warroom.store.db import Store

    _replay(one_day, tmp_path / "clean", tmp_path / "clean.ndjson")
    size = (one_day / "events.ndjson").stat().st_size
    # killed at ~40 % of the input: past the scramble and the price error (at 30 %)
    _replay(one_day, tmp_path / "cut", tmp_path / "cut.ndjson", crash_after=size // BATCH * 2 // 5)
    checkpoint = Store.open(tmp_path / "cut").load_checkpoint()
    assert checkpoint is not None and checkpoint.line > 0  # the next run resumes
    _replay(one_day, tmp_path / "cut", tmp_path / "cut.ndjson")
    stores = [CatalogStore(Store.open(tmp_path / d).engine) for d in ("clean", "cut")]
    views = [(s.findings(), s.skus(), s.orders()) for s in stores]
    assert len(views[0][0]) == 2 and len(views[0][2]) > 0
    assert views[0] == views[1]
    assert (tmp_path / "clean.ndjson").read_text() == (tmp_path / "cut.ndjson").read_text()


def test_check_eval_and_bench_commands(one_day: Path, tmp_path: Path) -> None:
    cli = CliRunner()
    alerts = tmp_path / "a.ndjson"
    got = cli.invoke(
        app,
        [
            "catalog",
            "check",
            "--events",
            str(one_day / "events.ndjson"),
            "--catalog",
            str(one_day / "catalog.ndjson"),
            "--rates",
            str(one_day / "rates.json"),
            "--alerts-out",
            str(alerts),
        ],
    )
    assert got.exit_code == 0, got.output
    assert sorted(line.split()[1] for line in got.stdout.splitlines()) == [
        "price_error",
        "sku_scramble",
    ]
    assert len(alerts.read_text().splitlines()) == 2
    got = cli.invoke(app, ["catalog", "eval", "--scenario-dir", str(one_day)])
    assert got.exit_code == 0, got.output
    lines = got.stdout.splitlines()
    assert sum("detected=True" in line and "recall=1.000" in line for line in lines) == 2
    assert "unmatched_findings=0 harmless_edit_findings=0" in lines[-1]
    got = cli.invoke(app, ["catalog", "bench", "--changes", "20000", "--items", "2000"])
    figures = json.loads(got.stdout)
    assert figures["sku_changes"] >= 20_000 and figures["findings"] == 2
