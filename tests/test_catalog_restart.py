"""The server's catalog guard survives a restart: it checkpoints with the engine (a whole
pickle, then journals of its inputs), so after a crash it goes on as if it never stopped.

In process, without HTTP: batches go through `Runner.feed_many` as the server's writer
sends them, with a checkpoint after each; a "crash" drops the runner and the guard
without stopping them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from warroom.guards.catalog import journal as journal_mod
from warroom.guards.catalog.attach import attach
from warroom.guards.catalog.guard import CatalogGuard
from warroom.runner import Runner, RunOptions
from warroom.sim import SimConfig, simulate
from warroom.sources import files

BATCH = 1 << 17  # bytes of NDJSON per ingest batch


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("day")
    scenarios = ("sku_scramble", "price_error", "payment_outage")
    simulate(SimConfig(minutes=2, rate=40, seed=11, scenarios=scenarios), out)
    return out


def _open(day: Path, data: Path) -> tuple[Runner, CatalogGuard]:
    runner = Runner(RunOptions(events=str(day / "events.ndjson"), data_dir=data))
    guard = attach(runner, day / "catalog.ndjson", checkpointed=True)
    return runner, guard


def _feed(runner: Runner, day: Path, stop_after: int | None = None) -> int:
    fed = 0
    chunks = files.ndjson_chunks(str(day / "events.ndjson"), runner.offset, runner.line, BATCH)
    for chunk in chunks:
        assert chunk.data is not None
        # HTTP batches: line numbers restart at 1 in every batch
        batch = runner.decoder.decode_ndjson(chunk.data, 1)
        runner.feed_many([(batch, "http")], (chunk.end_offset, chunk.end_line))
        runner.checkpoint(complete=False)
        fed += 1
        if stop_after is not None and fed >= stop_after:
            break
    return fed


def _findings(guard: CatalogGuard) -> list[tuple[Any, ...]]:
    return [
        (f.id, f.fired, f.resolved, f.mass, f.skus, f.lines, f.shipped, f.refunds, f.before)
        for f in guard.findings
    ]


def test_a_restarted_guard_continues_as_if_it_never_stopped(
    day: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, guard = _open(day, tmp_path / "clean")
    _feed(runner, day)
    guard.finish()
    clean = _findings(guard)
    assert len({f.kind for f in guard.findings}) == 2, "a scramble and a price error"

    # Whole states now and then, journals of inputs in between: restore through both.
    monkeypatch.setattr("warroom.participants.JOURNAL_FACTOR", 1)
    batches = (day / "events.ndjson").stat().st_size // BATCH
    runner, guard = _open(day, tmp_path / "crashed")
    _feed(runner, day, stop_after=batches // 2)
    crashed_midway = _findings(guard)
    del runner, guard  # kill -9: nothing stopped, nothing saved after the checkpoint

    runner, guard = _open(day, tmp_path / "crashed")
    assert runner.resumed
    assert _findings(guard) == crashed_midway, "restored where the checkpoint left it"
    _feed(runner, day)
    guard.finish()
    assert _findings(guard) == clean


def test_the_pickled_guard_leaves_out_its_snapshot(day: Path, tmp_path: Path) -> None:
    runner, guard = _open(day, tmp_path / "state")
    _feed(runner, day, stop_after=3)
    whole = journal_mod.dump(guard)
    # the snapshot (50,709 SKUs here, 2.7 MB pickled) is not in it: the state is ~20 kB
    assert len(whole) < 2_000_000
    runner, again = _open(day, tmp_path / "other")
    own = again.state.snap
    journal_mod.load(again, whole)
    assert again.state.snap is own  # the restored state points at the new server's snapshot
    assert _findings(again) == _findings(guard)
