"""The engine with its per-record work in C++ (src/native/engine_core.cpp).

`NativeEngine` is `Engine` with dedup, watermark, the order index, attribution and the
per-second cells done record by record by the core; dictionaries, rollups, labels and
the state's layout stay in Python and are shared. Its state is the same as `Engine`'s
(the indexes as sorted runs, the pending records as a frame), so a data directory can
be resumed by either. WARROOM_NATIVE=0 picks the numpy/polars engine, the reference the
tests compare this one with.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from warroom.contract.decode import DecodedBatch
from warroom.engine import cube
from warroom.engine.config import EngineConfig
from warroom.engine.cube import GSETS, KEY_COLS, METRIC_COLS, VIEW_ONLY
from warroom.engine.dims import DIMS, ORDER_DIMS, Dictionary
from warroom.engine.engine import (
    _PENDING_COLS,
    _STATUS,
    MINUTE,
    SECOND,
    Engine,
    StepResult,
)
from warroom.engine.runs import Run

try:
    from warroom import _engine_core  # type: ignore[attr-defined]
except ImportError:  # built without a C++ compiler
    _engine_core = None

# Each grouping set as the positions of its dimensions in DIMS (-1: none).
_GSET_DIMS = [tuple(DIMS.index(g[i]) if len(g) > i else -1 for i in range(2)) for g in GSETS]
_LOCAL = [gid in VIEW_ONLY for gid in range(len(GSETS))]
# the coarse sets are summed from a pair's cells (cube.PARENT), as the reference does
_PARENTS = [GSETS.index(cube.PARENT[g]) if g in cube.PARENT else -1 for g in GSETS]
_SEEN_COLS = {"ts": np.int64}
_ORDER_COLS = {"seq": np.int64, "ts": np.int64, **{d: np.int32 for d in ORDER_DIMS}}
# A persisted log longer than _COMPACT_AT times the live entries (plus the slack: small
# indexes are not worth a rewrite) is rewritten as one run.
_COMPACT_AT = 2
_COMPACT_SLACK = 1_000_000


def available() -> bool:
    return _engine_core is not None and os.environ.get("WARROOM_NATIVE", "1") != "0"


def new_engine(config: EngineConfig | None = None) -> Engine:
    """The native engine when it is built and not switched off, else the reference."""
    return NativeEngine(config) if available() else Engine(config)


class LoggedIndex:
    """A native index persisted as a log of runs: inserting the runs' entries in order
    rebuilds it. Each checkpoint adds the changes since the last as one run; a log grown
    past `_COMPACT_AT` times the live entries is replaced by one run of them all."""

    def __init__(self, index: Any, cols: dict[str, type]) -> None:
        self.index = index
        self.cols = cols
        self.runs: list[Run] = []  # the log, oldest first; persisted ones hold no arrays
        self.dropped: list[int] = []  # persisted run ids compacted away
        self.entries = 0  # in the whole log

    def __len__(self) -> int:
        return int(self.index.size)

    def drain(self) -> None:
        self.runs = [_emptied(r) if r.persisted and r.size else r for r in self.runs]
        if self.entries + self.index.logged > _COMPACT_AT * self.index.size + _COMPACT_SLACK:
            self.index.clear_log()
            self.dropped.extend(r.run_id for r in self.runs if r.persisted)
            self.runs, self.entries = [], 0
            keys, vals = self.index.dump()
        elif self.index.logged:
            keys, vals = self.index.drain()
        else:
            return
        self.runs.append(self._run(keys, vals))
        self.entries += len(keys)

    def load(self, runs: list[Run]) -> None:
        """Entries of persisted runs, oldest first (also SortedRuns' runs: same format)."""
        for run in runs:
            self.index.load(run.keys, np.column_stack([run.cols[c] for c in self.cols]))
        self.runs = [_emptied(r) for r in runs]
        self.entries = sum(r.size for r in runs)

    def _run(self, keys: np.ndarray, vals: np.ndarray) -> Run:
        return Run(keys, {c: vals[:, j].astype(t) for j, (c, t) in enumerate(self.cols.items())})


def _emptied(run: Run) -> Run:
    """A persisted run without its arrays: the log only needs its id. (New empty arrays:
    an empty slice is a view that keeps the whole array alive.)"""
    cols = {k: np.empty(0, v.dtype) for k, v in run.cols.items()}
    return Run(np.empty(0, run.keys.dtype), cols, run.run_id, True)


def _string_view(column: pl.Series) -> tuple[Any, Any, list[Any], int, int]:
    """A string column's Arrow buffers (views, validity, data) and slice, as polars holds
    them: no copy."""
    if column.dtype != pl.String:
        column = column.cast(pl.String)
    arr = column.to_arrow(compat_level=pl.CompatLevel.newest())
    if arr.type != pa.string_view():
        arr = arr.cast(pa.string_view())
    validity, views, *data = arr.buffers()
    return views, validity, data, arr.offset, len(arr)


class NativeDictionary(Dictionary):
    """`Dictionary` coding in C++ (src/native/str_dict.hpp), on polars' own buffers: 3-5x
    faster than the Enum cast. Same codes: first appearance order."""

    def __init__(self, values: list[str] | None = None) -> None:
        super().__init__(values)
        assert _engine_core is not None
        self._native = _engine_core.StrDict(self.values)

    def encode(self, column: pl.Series) -> np.ndarray:
        codes, added = self._native.encode(*_string_view(column))
        for value in added:
            self.codes[value] = len(self.values)
            self.values.append(value)
        return codes


# Status strings -> cube codes: a frozen dictionary's positions, then a lookup table.
_STATUS_VALUES = ["", *_STATUS]
_STATUS_CODES = np.asarray([0, *_STATUS.values()], dtype=np.uint8)


class NativeEngine(Engine):
    dictionary = NativeDictionary

    def __init__(self, config: EngineConfig | None = None) -> None:
        c = config or EngineConfig()
        assert _engine_core is not None and len(METRIC_COLS) == _engine_core.N_METRICS
        self.core = _engine_core.Core(
            c.lateness_ms, c.dedup_horizon_ms, c.order_horizon_ms, _GSET_DIMS, _LOCAL, _PARENTS
        )
        super().__init__(c)
        self.seen = LoggedIndex(self.core.seen, _SEEN_COLS)  # type: ignore[assignment]
        self.orders = LoggedIndex(self.core.orders, _ORDER_COLS)  # type: ignore[assignment]
        self._statuses = _engine_core.StrDict(_STATUS_VALUES, frozen=True)
        for rollup in self.rollups.values():
            rollup.merge = _merge_parts

    # The stream's position lives in the core.
    max_ts = property(lambda self: self.core.max_ts, lambda self, v: _set(self, "max_ts", v))
    closed_before = property(
        lambda self: self.core.closed_before, lambda self, v: _set(self, "closed_before", v)
    )
    seq = property(lambda self: self.core.seq, lambda self, v: _set(self, "seq", v))

    @property
    def pending(self) -> pl.DataFrame | None:
        cols = self.core.pending_columns()
        dims = cols.pop("dims")
        return pl.DataFrame({**cols, **dict(zip(DIMS, dims, strict=True))}).select(_PENDING_COLS)

    @pending.setter
    def pending(self, frame: pl.DataFrame | None) -> None:
        if frame is None:
            frame = pl.DataFrame(schema=_PENDING_SCHEMA)
        frame = frame.cast(_PENDING_SCHEMA)  # type: ignore[arg-type]
        self.core.set_pending(
            *(frame[c].to_numpy() for c in ("kind", "win", "order_hash", "user_hash")),
            np.stack([frame[d].to_numpy() for d in DIMS]),
            *(frame[c].to_numpy() for c in ("value_base", "value_minor", "status", "lat_bucket")),
        )

    def precode(self, batch: DecodedBatch) -> None:
        """The batch's codes, ahead of `process`: `run` codes each batch in the thread that
        decoded it, in input order, so codes are given in first-appearance order as
        `process` would give them. Only one thread may code (the dictionaries grow)."""
        if batch.frame.height:
            batch.codes = self._codes_of(batch.frame)

    def _codes_of(self, f: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(kind, the dimensions' codes as the core takes them (8, n), latency buckets,
        statuses): all made where the batch was decoded, when `run` precodes it."""
        kind = f["kind"].to_numpy()
        codes, lat_bucket, status = self._coded(f, kind)
        return kind, np.stack([codes[d] for d in DIMS]), lat_bucket, status

    def process(self, batch: DecodedBatch) -> StepResult:
        if not self._count_read(batch):
            return StepResult()
        f = batch.frame
        coded = batch.codes if batch.codes is not None else self._codes_of(f)
        kind, dims, lat_bucket, status = coded
        first_seq, closed_before = self.seq, self.closed_before
        dup, late, cells = self.core.process(
            kind,
            f["ts"].to_numpy(),
            f["id_hash"].to_numpy(),
            _filled(f["order_hash"]),
            _filled(f["user_hash"]),
            dims,
            _filled(f["value_base"]),
            _filled(f["value_minor"]),
            status,
            lat_bucket,
        )
        result = self._decided(batch, dup, late, first_seq)
        if self.closed_before > closed_before:
            result.cells = self._closed(cells, end=False)
        return result

    def flush(self) -> StepResult:
        return StepResult(cells=self._closed(self.core.flush(), end=True))

    def _status(self, column: pl.Series) -> np.ndarray:
        return _STATUS_CODES[self._statuses.encode(*_string_view(column))[0]]

    def _closed(self, finalised: tuple[dict, dict] | None, end: bool) -> dict[int, pl.DataFrame]:
        """The core's finalised seconds into the minute rollup; the periods they close."""
        out: dict[int, pl.DataFrame] = {}
        if finalised is not None:
            cells, registers = _cells_frame(finalised[0]), _registers_frame(finalised[1])
            self.rollups[MINUTE].add(cells, registers, per_period=_cells_frame(finalised[2]))
            out[SECOND] = cells
        self._close_periods(out, end)
        return out

    def state_blob(self) -> bytes:
        self.seen.drain()  # type: ignore[attr-defined]
        self.orders.drain()  # type: ignore[attr-defined]
        return super().state_blob()

    def restore(self, blob: bytes, runs: dict[int, Run], parts: dict[int, Any]) -> None:
        super().restore(blob, runs, parts)  # sets the logs' runs (`seen.runs = ...`)
        self.seen.load(self.seen.runs)  # type: ignore[attr-defined]
        self.orders.load(self.orders.runs)  # type: ignore[attr-defined]


_PENDING_SCHEMA = {
    "kind": pl.UInt8,
    "win": pl.Int64,
    "order_hash": pl.UInt64,
    "user_hash": pl.UInt64,
    **{d: pl.Int32 for d in DIMS},
    "value_base": pl.Int64,
    "value_minor": pl.Int64,
    "status": pl.UInt8,
    "lat_bucket": pl.Int8,
}
assert tuple(_PENDING_SCHEMA) == _PENDING_COLS


def _set(engine: NativeEngine, name: str, value: int) -> None:
    setattr(engine.core, name, int(value))


def _filled(column: pl.Series) -> np.ndarray:
    return column.fill_null(0).to_numpy() if column.has_nulls() else column.to_numpy()


def _cells_frame(cols: dict[str, np.ndarray]) -> pl.DataFrame:
    metrics = cols["metrics"]
    return pl.DataFrame(
        {**{c: cols[c] for c in KEY_COLS}, **dict(zip(METRIC_COLS, metrics, strict=True))}
    )


def _registers_frame(cols: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame({c: cols[c] for c in (*KEY_COLS, "reg", "rank")})


_CELL_DTYPES = {"win": pl.Int64, "gset": pl.UInt8, "k1": pl.Int32, "k2": pl.Int32}
_PART_COLS = {**_CELL_DTYPES, **{c: pl.Int64 for c in METRIC_COLS}}
_SKETCH_COLS = {**_CELL_DTYPES, "reg": pl.UInt16, "rank": pl.Int16}


def _columns(frame: pl.DataFrame, dtypes: dict[str, pl.DataType]) -> tuple[np.ndarray, ...]:
    """The frame's columns as numpy arrays of the core's dtypes (no copy when they are
    already of them, in one chunk)."""
    return tuple(np.ascontiguousarray(frame[c].cast(t).to_numpy()) for c, t in dtypes.items())


def _merge_parts(
    cells: list[pl.DataFrame], sketches: list[pl.DataFrame], estimate: bool, keep_registers: bool
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """rollup.polars_merge in the core (src/native/rollup_merge.hpp)."""
    assert _engine_core is not None
    summed, registers = _engine_core.merge_rollup(
        [_columns(c, _PART_COLS) for c in cells],
        [_columns(s, _SKETCH_COLS) for s in sketches],
        estimate,
        keep_registers,
    )
    cells.clear()
    sketches.clear()
    return _cells_frame(summed), None if registers is None else _registers_frame(registers)


assert cube.KIND_ORDER == 0 and cube.KIND_VISIT == 5  # the C++ file's kind codes
assert SECOND == 1_000 and MINUTE == 60_000
