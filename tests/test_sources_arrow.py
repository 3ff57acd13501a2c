"""Arrow IPC input read from a memory map, its pages dropped batch by batch."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from warroom.errors import ContractError
from warroom.sources import files


def _file(path: Path, batches: int, rows: int, stream: bool = False) -> pa.Table:
    table = pa.table(
        {
            "id": [f"e-{i}" for i in range(batches * rows)],
            "quantity": list(range(batches * rows)),
            "sku_attrs": [{"color": "red", "size": str(i % 7)} for i in range(batches * rows)],
        }
    )
    open_writer = ipc.new_stream if stream else ipc.new_file
    with pa.OSFile(str(path), "wb") as sink, open_writer(sink, table.schema) as writer:
        for rb in table.to_batches(max_chunksize=rows):
            writer.write_batch(rb)
    return table


@pytest.mark.parametrize("stream", [False, True])
def test_chunks_read_the_same_rows_after_their_pages_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    path = tmp_path / ("events.arrows" if stream else "events.arrow")
    table = _file(path, batches=5, rows=3_000, stream=stream)
    dropped: list[tuple[int, int]] = []
    real_drop = files._Mapped.drop

    def noted(self: files._Mapped, lo: int, hi: int) -> None:
        dropped.append((lo, hi))
        real_drop(self, lo, hi)

    monkeypatch.setattr(files._Mapped, "drop", noted)
    chunks = list(files.arrow_chunks(str(path), batch_rows=2_000))
    # every record batch's pages but the last one's, each once, in file order
    assert len(dropped) == 4 and dropped == sorted(dropped)
    assert all(hi > lo >= 0 for lo, hi in dropped)
    assert all(a[1] <= b[0] + 4096 for a, b in itertools.pairwise(dropped))
    # the chunks' slices still read what the file holds, though their pages were dropped
    read = pa.concat_tables([c.table for c in chunks if c.table is not None])
    assert read.equals(table)
    assert [c.first_line for c in chunks][:2] == [1, 2_001]
    assert chunks[-1].end_offset == 15_000


def test_a_resume_reads_from_its_row(tmp_path: Path) -> None:
    path = tmp_path / "events.arrow"
    table = _file(path, batches=3, rows=1_000)
    chunks = list(files.arrow_chunks(str(path), offset=1_500, batch_rows=1_000))
    assert chunks[0].first_line == 1_501
    read = pa.concat_tables([c.table for c in chunks if c.table is not None])
    assert read.equals(table.slice(1_500))
    assert files.total_size(str(path)) == 3_000


def test_not_arrow_is_a_clear_error(tmp_path: Path) -> None:
    for name, data in (("empty.arrow", b""), ("text.arrow", b'{"type": "order"}\n')):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ContractError, match="not an Arrow IPC file or stream"):
            list(files.arrow_chunks(str(path)))
