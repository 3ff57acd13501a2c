"""Coarser windows built from finer finalised cells: minutes from seconds, hours from
closed minutes (a sixtieth of the rows).

Additive metrics add up; `orders` adds up too (an order's lines share one timestamp,
so it is counted in one second); `buyers` comes from a HyperLogLog of the period, whose
sparse registers merge by max, so an hour's sketch is its minutes' sketches merged.
"""

from __future__ import annotations

import polars as pl

from warroom.engine import hll
from warroom.engine.cube import KEY_COLS, METRIC_COLS

_KEYS = list(KEY_COLS)


class Rollup:
    def __init__(self, period_ms: int) -> None:
        self.period_ms = period_ms
        self.cells: list[pl.DataFrame] = []
        self.sketch: list[pl.DataFrame] = []
        self.oldest: int | None = None  # start of the oldest open period

    def add(self, cells: pl.DataFrame, sketch: pl.DataFrame) -> None:
        """Finer cells and their sparse HLL registers (win in ms, any finer period)."""
        period = self.period_ms
        first = int(cells["win"].min()) // period * period  # type: ignore[arg-type]
        self.oldest = first if self.oldest is None else min(self.oldest, first)
        self.cells.append(
            cells.with_columns(pl.col("win") // period * period)
            .group_by(_KEYS)
            .agg([pl.col(c).sum() for c in METRIC_COLS])
        )
        self.sketch.append(sketch.with_columns(pl.col("win") // period * period))
        if len(self.cells) > 64:
            self._compact()

    def close(self, closed_before_ms: int) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Rolled-up cells, and their registers, of every period that ends at or before
        `closed_before_ms`."""
        if not self.cells or self.oldest is None or self.oldest + self.period_ms > closed_before_ms:
            return None
        # Only the closing rows are merged; the open ones stay as they are.
        cells, sketch = pl.concat(self.cells), pl.concat(self.sketch)
        done = pl.col("win") + self.period_ms <= closed_before_ms
        ready = cells.filter(done)
        if ready.height == 0:
            return None
        self.cells = [cells.filter(~done)]
        self.sketch = [sketch.filter(~done)]
        left = self.cells[0]["win"]
        self.oldest = int(left.min()) if left.len() else None  # type: ignore[arg-type]
        ready = ready.group_by(_KEYS).agg([pl.col(c).sum() for c in METRIC_COLS])
        closed_sketch = hll.merge([sketch.filter(done)], _KEYS)
        buyers = hll.estimate(closed_sketch, _KEYS)
        out = (
            ready.drop("buyers")
            .join(buyers, on=_KEYS, how="left")
            .with_columns(pl.col("buyers").fill_null(0))
        )
        return out.select(*_KEYS, *METRIC_COLS), closed_sketch

    def _compact(self) -> None:
        if len(self.cells) > 1:
            merged = pl.concat(self.cells)
            self.cells = [merged.group_by(_KEYS).agg([pl.col(c).sum() for c in METRIC_COLS])]
        if len(self.sketch) > 1:
            self.sketch = [hll.merge(self.sketch, _KEYS)]

    def state(self) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
        self._compact()
        return (self.cells[0] if self.cells else None, self.sketch[0] if self.sketch else None)

    def restore(self, cells: pl.DataFrame | None, sketch: pl.DataFrame | None) -> None:
        self.cells = [cells] if cells is not None else []
        self.sketch = [sketch] if sketch is not None else []
        has = cells is not None and cells.height > 0
        self.oldest = int(cells["win"].min()) if has else None  # type: ignore[index,arg-type]
