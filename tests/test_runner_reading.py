"""The runner reads and decodes its input in one thread beside the engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from conftest import CONTRACT
from warroom.runner import Runner, RunOptions
from warroom.sources import files


def _runner(tmp_path: Path, rates_file: Path, batch_bytes: int) -> Runner:
    events = tmp_path / "valid.ndjson"
    events.write_bytes((CONTRACT / "examples" / "valid.ndjson").read_bytes())
    opts = RunOptions(
        events=str(events), data_dir=tmp_path / "d", rates=rates_file, batch_bytes=batch_bytes
    )
    return Runner(opts)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The source's chunks, each noted with the thread that took it; "closed" last."""
    taken: list[str] = []
    real = files.ndjson_chunks

    def noted(*args: object, **kwargs: object) -> Iterator[files.Chunk]:
        try:
            for chunk in real(*args, **kwargs):  # type: ignore[arg-type]
                taken.append(threading.current_thread().name)
                yield chunk
        finally:
            taken.append("closed")

    monkeypatch.setattr(files, "ndjson_chunks", noted)
    return taken


def test_chunks_come_in_order_read_by_one_thread_not_the_engines(
    tmp_path: Path, rates_file: Path, reads: list[str]
) -> None:
    runner = _runner(tmp_path, rates_file, batch_bytes=512)
    whole = runner.decoder.decode_ndjson((tmp_path / "valid.ndjson").read_bytes(), 1)
    got = list(runner._decoded())
    assert len(got) > 3
    assert [c.first_line for c, _ in got] == sorted({c.first_line for c, _ in got})
    assert sum(b.records for _, b in got) == whole.records
    assert sum(b.frame.height for _, b in got) == whole.frame.height
    assert reads[-1] == "closed"
    threads = set(reads[:-1])
    assert len(threads) == 1 and threading.main_thread().name not in threads


def test_stopping_early_closes_the_source_after_its_last_read(
    tmp_path: Path, rates_file: Path, reads: list[str]
) -> None:
    runner = _runner(tmp_path, rates_file, batch_bytes=512)
    decoded = runner._decoded()
    first, _ = next(decoded)
    assert first.first_line == 1
    decoded.close()
    assert reads[-1] == "closed"
    # this chunk, and the one read ahead unless it was cancelled before it began
    assert len(reads) - 1 in (1, 2)


def test_a_checkpoints_cells_are_labelled_into_it_all_or_none(
    tmp_path: Path, rates_file: Path
) -> None:
    """Labelling runs in the checkpoint thread; if one period's cells fail, none are in
    the commit and all are still there for the next checkpoint."""
    from warroom.runner import _label
    from warroom.store.db import Commit

    runner = _runner(tmp_path, rates_file, batch_bytes=1 << 20)
    for _chunk, batch in runner._decoded():
        runner._collect(batch, runner.engine.process(batch))
    runner._collect(None, runner.engine.flush())
    cells = {p: pl.concat(f) for p, f in runner._pending.cells.items()}
    assert len(cells) >= 2
    table = runner.engine.label_table()
    commit = Commit("s", 0, 0, False, b"", [], [], {}, [], [])
    broken = {**cells, 1: cells[min(cells)].drop("gset")}  # the last one fails
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        _label(commit, broken, table)
    assert commit.cells == {} and set(broken) == {*cells, 1}
    _label(commit, cells, table)
    assert cells == {} and all(len(frames) == 1 for frames in commit.cells.values())
    one_second = commit.cells[min(commit.cells)][0]  # in the engine's order, not sorted
    expected = runner.engine.label(pl.concat(runner._pending.cells[1000]))
    assert one_second.sort(expected.columns[:4]).equals(expected)


def test_codes_given_in_the_decode_thread_are_the_engines(
    tmp_path: Path, rates_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` codes each batch's dimensions where it was decoded, ahead of the engine; the
    store ends as it does when the engine codes every batch itself, with new values
    arriving in many batches and checkpoints between them."""
    import random

    from eventgen import stream
    from warroom.engine.engine import Engine
    from warroom.engine.native import NativeEngine
    from warroom.store.db import Store
    from warroom.store.dump import dump

    events = tmp_path / "day.ndjson"
    events.write_bytes(b"\n".join(e.line() for e in stream(random.Random(5), 3_000)) + b"\n")

    def run(data: Path) -> bytes:
        opts = RunOptions(
            events=str(events),
            data_dir=data,
            rates=rates_file,
            batch_bytes=1 << 16,
            checkpoint_seconds=0.0,
        )
        runner = Runner(opts)
        assert isinstance(runner.engine, NativeEngine)
        runner.run()
        return dump(Store.open(data))

    coders: list[str] = []  # the thread that coded each batch
    real = NativeEngine._codes_of

    def noted(engine: NativeEngine, frame: pl.DataFrame) -> object:
        coders.append(threading.current_thread().name)
        return real(engine, frame)

    monkeypatch.setattr(NativeEngine, "_codes_of", noted)
    coded_ahead = run(tmp_path / "ahead")
    assert len(coders) > 10 and all(name.startswith("decode") for name in coders)
    coders.clear()
    monkeypatch.setattr(NativeEngine, "precode", Engine.precode)  # codes in `process`
    assert run(tmp_path / "in_engine") == coded_ahead
    assert len(coders) > 10 and set(coders) == {threading.main_thread().name}
