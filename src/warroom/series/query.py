"""Series queries over stored cells: a metric, sliced by up to two dimensions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from warroom.engine.cube import GSET_ID, GSETS
from warroom.engine.dims import DIMS
from warroom.errors import WarroomError
from warroom.series.metrics import METRICS, Metric, format_money
from warroom.store.db import Store

PERIODS = {"1s": 1_000, "1m": 60_000, "1h": 3_600_000}


class QueryError(WarroomError):
    """A query names an unknown metric, dimension or resolution."""


@dataclass(frozen=True)
class SeriesQuery:
    metric: str
    by: tuple[str, ...] = ()
    every: str = "1s"
    start: int | None = None  # window start, epoch ms, inclusive
    end: int | None = None
    where: tuple[tuple[str, str], ...] = ()  # dimension = value filters within `by`


def grouping_set(by: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    for dim in by:
        if dim not in DIMS:
            raise QueryError(f"by: unknown dimension {dim!r}; dimensions are {', '.join(DIMS)}")
    for order in (by, tuple(reversed(by))):
        if order in GSET_ID:
            return GSET_ID[order], order
    pairs = ", ".join(",".join(g) for g in GSETS if len(g) == 2)
    raise QueryError(f"by: {','.join(by)} is not materialised; pairs kept: {pairs}")


def run_query(
    store: Store,
    q: SeriesQuery,
    base_digits: int = 2,
    minor_digits: Mapping[str, int] | None = None,
) -> pl.DataFrame:
    """Columns window_start, the `by` dimensions in the order asked, value (string).
    `minor_digits` (currency -> digits) formats the metrics kept in each currency."""
    metric = METRICS.get(q.metric)
    if metric is None:
        raise QueryError(f"metric: unknown {q.metric!r}; metrics are {', '.join(METRICS)}")
    check_local(metric, q.by)
    if q.every not in PERIODS:
        raise QueryError(f"every: must be one of {', '.join(PERIODS)}")
    gid, stored = grouping_set(q.by)
    cells = store.cells(PERIODS[q.every], q.start, q.end)
    if cells.height == 0:
        return pl.DataFrame(
            schema={"window_start": pl.Int64, **{d: pl.String for d in q.by}, "value": pl.String}
        )
    cells = cells.filter(pl.col("gset") == gid)
    names = (
        {"k1": stored[0], "k2": stored[1]}
        if len(stored) == 2
        else ({"k1": stored[0]} if stored else {})
    )
    cells = cells.rename(names)
    for dim, value in q.where:
        if dim not in q.by:
            raise QueryError(f"filter: {dim} must also be in by")
        cells = cells.filter(pl.col(dim) == value)
    keys = ["win", *q.by]
    summed = cells.group_by(keys).agg([pl.col(c).sum() for c in dict.fromkeys(metric.needs)])
    out = summed.select(
        pl.col("win").alias("window_start"), *q.by, metric.value().alias("value")
    ).sort(["window_start", *q.by])
    if metric.unit == "money_local":
        digits = minor_digits or {}
        text = [
            format_money(int(v), digits.get(c, 2))
            for v, c in zip(out["value"], out["currency"], strict=True)
        ]
        return out.with_columns(value=pl.Series(text, dtype=pl.String))
    return out.with_columns(_format(out["value"], metric.unit, base_digits).alias("value"))


def check_local(metric: Metric, by: tuple[str, ...]) -> None:
    """Amounts in several currencies only add up within one currency."""
    if metric.unit == "money_local" and "currency" not in by:
        raise QueryError(
            f"by: {metric.name} is kept in each currency's own units; by must include currency"
        )


def _format(values: pl.Series, unit: str, digits: int) -> pl.Series:
    if unit == "money":
        return pl.Series([format_money(int(v), digits) for v in values], dtype=pl.String)
    if unit == "count":
        return values.cast(pl.Int64).cast(pl.String)
    return pl.Series([None if v is None else f"{v:.6f}" for v in values], dtype=pl.String)
