"""The runner reads and decodes its input in one thread beside the engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

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
