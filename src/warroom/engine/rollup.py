"""Coarser windows (1 minute, 1 hour) built from finalised 1-second cells.

Additive metrics add up; `orders` adds up too (an order's lines share one timestamp,
so it is counted in one second); `buyers` comes from a HyperLogLog of the period.
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

    def add(self, cells: pl.DataFrame, users: pl.DataFrame) -> None:
        """Cells and keyed users of finalised seconds (win in ms)."""
        period = self.period_ms
        first = int(cells["win"].min()) // period * period  # type: ignore[arg-type]
        self.oldest = first if self.oldest is None else min(self.oldest, first)
        self.cells.append(
            cells.with_columns(pl.col("win") // period * period)
            .group_by(_KEYS)
            .agg([pl.col(c).sum() for c in METRIC_COLS])
        )
        regs = hll.registers(users.with_columns(pl.col("win") // period * period), _KEYS)
        self.sketch.append(regs)
        if len(self.cells) > 64:
            self._compact()

    def close(self, closed_before_ms: int) -> pl.DataFrame | None:
        """Rolled-up cells of every period that ends at or before `closed_before_ms`."""
        if not self.cells or self.oldest is None or self.oldest + self.period_ms > closed_before_ms:
            return None
        self._compact()
        cells, sketch = self.cells[0], self.sketch[0]
        done = pl.col("win") + self.period_ms <= closed_before_ms
        ready = cells.filter(done)
        if ready.height == 0:
            return None
        self.cells = [cells.filter(~done)]
        self.sketch = [sketch.filter(~done)]
        left = self.cells[0]["win"]
        self.oldest = int(left.min()) if left.len() else None  # type: ignore[arg-type]
        buyers = hll.estimate(sketch.filter(done), _KEYS)
        out = (
            ready.drop("buyers")
            .join(buyers, on=_KEYS, how="left")
            .with_columns(pl.col("buyers").fill_null(0))
        )
        return out.select(*_KEYS, *METRIC_COLS)

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
