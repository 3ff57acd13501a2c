"""NDJSON read in whole-line chunks from a reused buffer: the chunks are the file's
bytes cut at newlines, with the right line numbers and offsets, whatever the buffer
size (lines longer than it too), and a resume from any chunk's end goes on exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.sources import files

LINES = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=30)


def _check(chunks: list[files.Chunk], content: bytes, offset: int, line: int) -> None:
    assert b"".join(c.data or b"" for c in chunks) == content[offset:]
    pos, at = offset, line
    for c in chunks:
        assert c.data
        # whole lines: a chunk ends with a newline, except the input's last bytes
        assert c.data.endswith(b"\n") or pos + len(c.data) == len(content)
        assert c.first_line == at + 1
        at += c.data.count(b"\n") + (0 if c.data.endswith(b"\n") else 1)
        assert c.end_line == at
        pos += len(c.data)
        assert c.end_offset == pos


@settings(max_examples=150, deadline=None)
@given(
    lines=LINES,
    unfinished=st.booleans(),
    batch=st.integers(1, 64),
    first=st.none() | st.integers(1, 64),
)
def test_chunks_are_the_files_lines_from_any_chunk_end(
    tmp_path_factory, lines: list[bytes], unfinished: bool, batch: int, first: int | None
) -> None:
    content = b"".join(x + b"\n" for x in lines) + (b"tail" if unfinished else b"")
    path = tmp_path_factory.mktemp("nd") / "events.ndjson"
    path.write_bytes(content)
    chunks = list(files.ndjson_chunks(str(path), batch_bytes=batch, first_batch_bytes=first))
    _check(chunks, content, 0, 0)
    for c in chunks:  # a checkpoint after any chunk: the rest from there
        rest = list(
            files.ndjson_chunks(str(path), c.end_offset, c.end_line, batch, first_batch_bytes=first)
        )
        _check(rest, content, c.end_offset, c.end_line)


def test_the_first_chunk_is_the_smaller_one(tmp_path: Path) -> None:
    content = b"".join(b'{"n":%d}\n' % i for i in range(1000))
    path = tmp_path / "events.ndjson"
    path.write_bytes(content)
    chunks = list(files.ndjson_chunks(str(path), batch_bytes=4096, first_batch_bytes=512))
    _check(chunks, content, 0, 0)
    assert 0 < len(chunks[0].data) <= 512
    assert all(len(c.data) > 3000 for c in chunks[1:-1])  # then whole buffers


def test_a_line_longer_than_the_buffer_comes_whole(tmp_path: Path) -> None:
    long = b"{" + b"a" * 1000 + b"}"
    content = b"{}\n" + long + b"\n{}\n" + long
    path = tmp_path / "events.ndjson"
    path.write_bytes(content)
    chunks = list(files.ndjson_chunks(str(path), batch_bytes=16))
    _check(chunks, content, 0, 0)
    assert chunks[0].data == b"{}\n"  # before the buffer grew
    assert sum(c.data.count(long) for c in chunks if c.data) == 2  # never cut
    assert chunks[-1].end_line == 4


@pytest.mark.skipif(files._native_count_lines is None, reason="NDJSON scanner not built")
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_lines_are_counted_as_bytes_count_does(data: bytes) -> None:
    # without the native count, `count_lines` is bytes.count: nothing to compare
    assert files.count_lines(data) == data.count(b"\n")
    assert files.count_lines(data * 40) == 40 * data.count(b"\n")  # past the vector width
