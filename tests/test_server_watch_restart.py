"""The server's watch survives a restart: saved state plus the stored seconds after it.

In process, without HTTP: batches go through `Runner.feed_many` and checkpoints as the
server's writer sends them, and the watch's queued seconds are judged in order. A
"crash" drops the runner and the watch without stopping them.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from warroom.api.watch import ServerWatch
from warroom.detect.pipeline import NOT_STATE
from warroom.runner import Runner, RunOptions
from warroom.sim import SimConfig, simulate
from warroom.sources import files

BATCH = 1 << 18  # bytes of NDJSON per ingest batch


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("day")
    simulate(SimConfig(minutes=2, rate=20, seed=5), out)
    return out


def _open(day: Path, data: Path) -> tuple[Runner, ServerWatch]:
    runner = Runner(RunOptions(events=str(day / "events.ndjson"), data_dir=data))
    server = ServerWatch(runner)
    server.attach()
    return runner, server


def _feed(runner: Runner, server: ServerWatch, day: Path, stop_after: int | None = None) -> int:
    """Feed the file from the runner's position in 256 kB batches, a checkpoint after
    each, judging queued seconds as the watch thread would. Returns batches fed."""
    fed = 0
    chunks = files.ndjson_chunks(str(day / "events.ndjson"), runner.offset, runner.line, BATCH)
    for chunk in chunks:
        assert chunk.data is not None
        batch = runner.decoder.decode_ndjson(chunk.data, chunk.first_line)
        runner.feed_many([(batch, "http")], (chunk.end_offset, chunk.end_line))
        runner.checkpoint(complete=False)
        while not server.steps.empty():
            server.process(server.steps.get())
        fed += 1
        if stop_after is not None and fed >= stop_after:
            break
    return fed


def _state(server: ServerWatch) -> dict[str, object]:
    """The watch's state, attribute by attribute; the series index by content (a polars
    frame pickles by its chunks, a frozenset in its insertion history's order)."""
    watch = server.watch
    index = watch.index
    pickled = {k: pickle.dumps(v) for k, v in vars(watch).items() if k not in (*NOT_STATE, "index")}
    out: dict[str, object] = {**pickled}
    out["index"] = (index.known.rows(), index.scopes, index.gset, index.unknown.tolist())
    return out


def _alerts(server: ServerWatch) -> dict[str, str]:
    return {k: v["state"] for k, v in server.book.rows.items()}


def test_a_restarted_watch_continues_as_if_it_never_stopped(day: Path, tmp_path: Path) -> None:
    runner, server = _open(day, tmp_path / "clean")
    _feed(runner, server, day)
    runner.checkpoint(complete=False)
    clean_state = _state(server)
    clean_alerts = _alerts(server)
    assert clean_alerts, "the simulated day should raise alerts"

    third = (day / "events.ndjson").stat().st_size // BATCH // 3
    runner, server = _open(day, tmp_path / "crashed")
    total = _feed(runner, server, day, stop_after=third)
    server.save_state()
    saved_through = server.watch.last_win
    _feed(runner, server, day, stop_after=third)  # committed, judged, not saved: a crash
    assert server.watch.last_win is not None and saved_through is not None
    assert server.watch.last_win > saved_through + 5_000
    del runner, server

    runner, server = _open(day, tmp_path / "crashed")
    caught_up = server.warm_up()
    assert server.restored_through == saved_through
    assert caught_up >= 5  # the seconds judged after the save, judged again from the store
    total += _feed(runner, server, day)
    runner.checkpoint(complete=False)
    assert total > third
    assert _alerts(server) == clean_alerts
    assert _state(server) == clean_state


def test_without_a_saved_state_the_watch_starts_cold(day: Path, tmp_path: Path) -> None:
    runner, server = _open(day, tmp_path / "d")
    assert server.warm_up() == 0 and server.restored_through is None
    _feed(runner, server, day, stop_after=8)
    assert server.watch.last_win is not None  # saved only when asked (or every 10 s)
    del runner, server
    _, server = _open(day, tmp_path / "d")
    assert server.warm_up() == 0 and server.watch.last_win is None
