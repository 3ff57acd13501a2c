"""Input sources: batches of whole records with the position after each batch.

A position is what a checkpoint stores: for NDJSON the byte offset and the number of
lines consumed; for Arrow IPC / Parquet the number of rows consumed.
"""

from __future__ import annotations

import hashlib
import mmap
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from warroom.errors import ContractError

try:  # the NDJSON scanner's module (see setup.py); without it, bytes.count
    from warroom._ndjson_scan import count_lines as _native_count_lines  # type: ignore
except ImportError:
    _native_count_lines = None

DEFAULT_BATCH_BYTES = 8 << 20
# A replay's first chunk: the engine starts on it while the next one is decoded (a first
# chunk of 8 MiB kept the engine waiting ~0.1 s for it)
FIRST_BATCH_BYTES = 1 << 20
ARROW_SUFFIXES = (".arrow", ".ipc", ".feather", ".arrows")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass
class Chunk:
    first_line: int  # 1-based line (or row) number of the first record
    end_offset: int  # position after this chunk
    end_line: int  # last line (or row) number in this chunk
    data: bytes | None = None  # NDJSON
    table: pa.Table | None = None  # Arrow


def fingerprint(path: str) -> str:
    """Identifies an input so a resume cannot continue on another one."""
    if path == "-":
        return "stdin"
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(1 << 16)
    return f"{p.name}:{hashlib.sha256(head).hexdigest()[:16]}"


def is_columnar(path: str) -> bool:
    return path != "-" and path.lower().endswith(ARROW_SUFFIXES + PARQUET_SUFFIXES)


def total_size(path: str) -> int | None:
    """Bytes (NDJSON) or rows (Arrow) in the input, for the progress bar."""
    if path == "-":
        return None
    if path.lower().endswith(PARQUET_SUFFIXES):
        return pq.ParquetFile(path).metadata.num_rows
    if path.lower().endswith(ARROW_SUFFIXES):
        reader = _open_arrow(path).reader
        if isinstance(reader, ipc.RecordBatchFileReader):
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        return None
    return Path(path).stat().st_size


def ndjson_chunks(
    path: str,
    offset: int = 0,
    line: int = 0,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    first_batch_bytes: int | None = None,
) -> Iterator[Chunk]:
    """Whole lines from `offset`; the last line may lack its newline at end of input.
    Chunks of about `batch_bytes`, the first of about `first_batch_bytes` if smaller.

    The input is read into one reused buffer, and each chunk's lines are copied out of
    it once (reading into fresh blocks, then joining the last one's unfinished line to
    the next and cutting at the last newline, copied every byte three times)."""
    fh: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    try:
        if offset:
            _skip(fh, offset, seekable=path != "-")
        buf = bytearray(batch_bytes)
        have = 0  # buf[:have]: the start of an unfinished line, carried over
        pos = offset
        first = min(first_batch_bytes or batch_bytes, batch_bytes)  # 0 once a chunk is out
        while True:
            if have == len(buf):  # one line longer than the buffer: make room
                buf.extend(bytes(len(buf)))
            upto = first if have < first else len(buf)
            with memoryview(buf) as view:
                n = fh.readinto(view[have:upto])  # type: ignore[attr-defined]
            if not n:
                break
            end = have + n
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut == 0:
                have = end
                continue
            data = _head(buf, cut)
            buf[: end - cut] = buf[cut:end]  # the unfinished line, to the front
            have = end - cut
            lines = count_lines(data)
            pos += len(data)
            yield Chunk(first_line=line + 1, end_offset=pos, end_line=line + lines, data=data)
            line += lines
            first = 0
        if have:
            pos += have
            yield Chunk(
                first_line=line + 1, end_offset=pos, end_line=line + 1, data=_head(buf, have)
            )
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def count_lines(data: bytes) -> int:
    """The newlines in `data` (natively: 3x faster, and without the GIL)."""
    return _native_count_lines(data) if _native_count_lines is not None else data.count(b"\n")


def _head(buf: bytearray, n: int) -> bytes:
    """The first `n` bytes, copied once (`bytes(buf[:n])` copies twice)."""
    with memoryview(buf) as view:
        return bytes(view[:n])


def paced_chunks(path: str, speed: float, offset: int = 0, line: int = 0) -> Iterator[Chunk]:
    """NDJSON lines released as their event time comes, `speed` times faster than real."""
    from warroom.sim import live_batches

    pos, skipped = 0, 0
    for lines in live_batches(Path(path), speed):
        size = sum(len(x) + 1 for x in lines)
        if pos + size <= offset:  # already consumed before a restart
            pos, skipped = pos + size, skipped + len(lines)
            continue
        pos += size
        yield Chunk(
            first_line=line + 1,
            end_offset=pos,
            end_line=line + len(lines),
            data=b"\n".join(lines) + b"\n",
        )
        line += len(lines)


def arrow_chunks(path: str, offset: int = 0, batch_rows: int = 262_144) -> Iterator[Chunk]:
    """Record batches of an Arrow IPC or Parquet file, from row `offset`, gathered into
    chunks of about `batch_rows` rows: producers often write many small batches, and
    each chunk costs the engine a fixed number of operations."""
    if path.lower().endswith(PARQUET_SUFFIXES):
        batches: Iterator[pa.RecordBatch] = pq.ParquetFile(path).iter_batches(batch_rows)
    else:
        batches = _sliced(_open_arrow(path), batch_rows)
    row = 0
    held: list[pa.RecordBatch] = []
    first = 0  # row number (0-based) of the first held row
    for rb in batches:
        start, row = row, row + rb.num_rows
        if row <= offset:
            continue
        if start < offset:
            rb = rb.slice(offset - start)
            start = offset
        if not held:
            first = start
        held.append(rb)
        if row - first >= batch_rows:
            yield Chunk(first + 1, row, row, table=pa.Table.from_batches(held))
            held = []
    if held:
        yield Chunk(first + 1, row, row, table=pa.Table.from_batches(held))


def _sliced(mapped: _Mapped, rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of at most `rows` rows; slices of the memory map cost no copy. Once
    the next record batch is read, the pages of the one before leave this process's RSS
    (`MADV_DONTNEED`: the file stays in the page cache, and a page read again is mapped
    again, so a slice still held reads the same bytes). Read into memory instead, each
    record batch was a fresh 90 MB allocation faulted in and copied to (the 10 M-event
    file), and the allocator kept two of them."""
    reader = mapped.reader
    if isinstance(reader, ipc.RecordBatchFileReader):
        whole: Iterator[pa.RecordBatch] = (
            reader.get_batch(i) for i in range(reader.num_record_batches)
        )
    else:
        whole = iter(reader)
    before: tuple[int, int] | None = None
    for rb in whole:
        if before is not None:
            mapped.drop(*before)
        before = mapped.span(rb)
        for start in range(0, rb.num_rows, rows):
            yield rb.slice(start, rows)


@dataclass
class _Mapped:
    """An Arrow IPC file or stream read from a memory map of it."""

    reader: ipc.RecordBatchFileReader | ipc.RecordBatchStreamReader
    map: mmap.mmap
    base: int  # the map's address

    def span(self, rb: pa.RecordBatch) -> tuple[int, int] | None:
        """The bytes of the map that the record batch's buffers cover."""
        offsets = [
            (b.address - self.base, b.size)
            for col in rb.columns
            for b in col.buffers()  # every buffer, nested fields' too
            if b is not None and b.size
        ]
        if not offsets:
            return None
        return min(o for o, _ in offsets), max(o + n for o, n in offsets)

    def drop(self, lo: int, hi: int) -> None:
        if not hasattr(self.map, "madvise"):  # not on every platform
            return
        start = lo // mmap.PAGESIZE * mmap.PAGESIZE
        if 0 <= start < hi <= len(self.map):
            self.map.madvise(mmap.MADV_DONTNEED, start, hi - start)


def _open_arrow(path: str) -> _Mapped:
    """A reader of the file or stream over a memory map of it."""
    with open(path, "rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as exc:  # an empty file
            raise ContractError(f"{path}: not an Arrow IPC file or stream") from exc
    buf = pa.py_buffer(mapped)
    try:
        return _Mapped(ipc.open_file(buf), mapped, buf.address)
    except pa.ArrowInvalid:
        try:
            return _Mapped(ipc.open_stream(buf), mapped, buf.address)
        except pa.ArrowInvalid as exc:
            raise ContractError(f"{path}: not an Arrow IPC file or stream") from exc


def _skip(fh: BinaryIO, offset: int, seekable: bool) -> None:
    if seekable:
        fh.seek(offset)
        return
    left = offset
    while left:
        got = fh.read(min(left, 1 << 20))
        if not got:
            raise ContractError("standard input ended before the checkpoint's position")
        left -= len(got)
