"""Coarser windows built from finer finalised cells: minutes from seconds, hours from
closed minutes (a sixtieth of the rows).

Additive metrics add up; `orders` adds up too (an order's lines share one timestamp,
so it is counted in one second); `buyers` comes from a HyperLogLog of the period, whose
sparse registers merge by max, so an hour's sketch is its minutes' sketches merged.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from warroom.engine import hll
from warroom.engine.cube import KEY_COLS, METRIC_COLS

_KEYS = list(KEY_COLS)
_part_ids = itertools.count(1)

# (parts' cells, parts' sketches, estimate buyers, keep the merged registers) ->
# (cells summed per key, merged registers or None). It may empty the lists it is given,
# so that the parts are freed as soon as they are merged.
Merge = Callable[
    [list[pl.DataFrame], list[pl.DataFrame], bool, bool], tuple[pl.DataFrame, pl.DataFrame | None]
]


def polars_merge(
    cells: list[pl.DataFrame], sketches: list[pl.DataFrame], estimate: bool, keep_registers: bool
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Parts merged with polars group-bys: the reference engine's way (the native engine's
    core does the same in C++, src/native/rollup_merge.hpp). With `estimate`, `buyers` is
    the merged sketch's estimate (0 for a cell with no registers); else it is summed."""
    summed = pl.concat(cells).group_by(_KEYS).agg([pl.col(c).sum() for c in METRIC_COLS])
    cells.clear()
    merged = hll.merge(sketches, _KEYS) if keep_registers else None
    if estimate:
        if merged is not None:
            sketches.clear()
            buyers = hll.estimate(merged, _KEYS)
        else:  # an hour's close: its merged registers, which nothing reads, never held
            buyers = hll.estimate_merged(sketches, _KEYS)
        summed = (
            summed.drop("buyers")
            .join(buyers, on=_KEYS, how="left")
            .with_columns(pl.col("buyers").fill_null(0))
        )
    return summed.select(*_KEYS, *METRIC_COLS), merged


def continue_part_ids_after(highest: int) -> None:
    """After a restore: new parts must not reuse the ids of persisted ones."""
    global _part_ids
    _part_ids = itertools.count(highest + 1)


@dataclass
class Part:
    """Cells and sketch registers added to an open rollup at one time. Persisted once,
    as index runs are: a checkpoint writes only the parts it has not written, so its
    cost does not grow with the open hour (the whole state used to be pickled each
    time, a spike of three copies of it in memory)."""

    cells: pl.DataFrame
    sketch: pl.DataFrame
    part_id: int = field(default_factory=lambda: next(_part_ids))
    persisted: bool = False

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        for frame in (self.cells, self.sketch):
            blob = io.BytesIO()
            frame.write_ipc(blob)
            data = blob.getbuffer()
            out.write(len(data).to_bytes(8, "little"))
            out.write(data)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, part_id: int, data: bytes) -> Part:
        view, frames = memoryview(data), []
        at = 0
        for _ in range(2):
            size = int.from_bytes(view[at : at + 8], "little")
            frames.append(pl.read_ipc(io.BytesIO(view[at + 8 : at + 8 + size])))
            at += 8 + size
        return cls(frames[0], frames[1], part_id=part_id, persisted=True)


class Rollup:
    def __init__(self, period_ms: int, merge: Merge = polars_merge) -> None:
        self.period_ms = period_ms
        self.merge = merge
        self.parts: list[Part] = []
        self.dropped: list[int] = []  # persisted part ids replaced since the last checkpoint
        self.oldest: int | None = None  # start of the oldest open period

    def add(
        self,
        cells: pl.DataFrame,
        sketch: pl.DataFrame,
        per_period: pl.DataFrame | None = None,
    ) -> None:
        """Finer cells and their sparse HLL registers (win in ms, any finer period).
        `per_period`: the same cells already summed to this period, if the caller has
        them (the native engine's core sums them: this group-by took 0.30-0.33 s of the
        2 M replay, the hours' included)."""
        period = self.period_ms
        first = int(cells["win"].min()) // period * period  # type: ignore[arg-type]
        self.oldest = first if self.oldest is None else min(self.oldest, first)
        if per_period is None:
            per_period = (
                cells.with_columns(pl.col("win") // period * period)
                .group_by(_KEYS)
                .agg([pl.col(c).sum() for c in METRIC_COLS])
            )
        self.parts.append(
            Part(
                per_period.select(*_KEYS, *METRIC_COLS),
                sketch.with_columns(pl.col("win") // period * period),
            )
        )
        if len(self.parts) > 64:
            summed, merged = self.merge(
                [p.cells for p in self.parts], [p.sketch for p in self.parts], False, True
            )
            assert merged is not None
            self._replace(summed, merged)

    def close(
        self, closed_before_ms: int, keep_sketch: bool = True
    ) -> tuple[pl.DataFrame, pl.DataFrame | None] | None:
        """Rolled-up cells, and their registers (None unless `keep_sketch`: the hours',
        which nothing reads, are never held merged), of every period that ends at or
        before `closed_before_ms`."""
        if not self.parts or self.oldest is None or self.oldest + self.period_ms > closed_before_ms:
            return None
        # Part by part, so that a part wholly closed or wholly open is not copied: the
        # open hour's sketch is the engine's largest state.
        last_start = closed_before_ms - self.period_ms
        done_cells: list[pl.DataFrame] = []
        done_sketch: list[pl.DataFrame] = []
        open_parts: list[Part] = []
        for part in self.parts:
            first, last = _span(part)
            if last is not None and last <= last_start:
                done_cells.append(part.cells)
                done_sketch.append(part.sketch)
            elif first is None or first > last_start:
                open_parts.append(part)
            else:
                done = pl.col("win") <= last_start
                done_cells.append(part.cells.filter(done))
                done_sketch.append(part.sketch.filter(done))
                open_parts.append(Part(part.cells.filter(~done), part.sketch.filter(~done)))
        if not done_cells or not any(c.height for c in done_cells):
            return None
        kept = {id(p) for p in open_parts}
        self.dropped.extend(p.part_id for p in self.parts if p.persisted and id(p) not in kept)
        self.parts = open_parts
        wins = [int(p.cells["win"].min()) for p in self.parts if p.cells.height]  # type: ignore[arg-type]
        self.oldest = min(wins) if wins else None
        return self.merge(done_cells, done_sketch, True, keep_sketch)

    def _replace(self, cells: pl.DataFrame, sketch: pl.DataFrame) -> None:
        """Every part becomes one new part (nothing when it is empty)."""
        self.dropped.extend(p.part_id for p in self.parts if p.persisted)
        self.parts = [Part(cells, sketch)] if cells.height or sketch.height else []

    def state(self) -> list[int]:
        return [p.part_id for p in self.parts]

    def restore(self, part_ids: list[int], parts: dict[int, Part]) -> None:
        self.parts = [parts[i] for i in part_ids]
        self.dropped = []
        wins = [int(p.cells["win"].min()) for p in self.parts if p.cells.height]  # type: ignore[arg-type]
        self.oldest = min(wins) if wins else None


def _span(part: Part) -> tuple[int | None, int | None]:
    """The first and last period start in a part (None when it is empty)."""
    wins = part.cells["win"]
    if wins.len() == 0:
        return None, None
    return int(wins.min()), int(wins.max())  # type: ignore[arg-type]
