"""KPI series, slices and top-N over the stored cells, with drill-down filters.

A filter on a dimension that is not in `by` reads the grouping set of `by` plus the
filtered dimensions; as each filter fixes one value, the rows stay one per `by` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import polars as pl

from warroom.api.errors import ApiError
from warroom.contract.rates import Rate, RatesTable
from warroom.engine.dims import DIMS
from warroom.series.metrics import METRICS, format_money
from warroom.series.query import (
    PERIODS,
    QueryError,
    SeriesQuery,
    check_local,
    grouping_set,
    run_query,
)
from warroom.store.db import Store

CONVERSION_RULE = (
    "each record's amount is converted once: base_minor = round_half_even(value_minor * rate "
    "* 10^base_digits / 10^digits), rate = base units per unit of the currency"
)


def exact_rate(rate: Rate) -> str:
    """The rate as the exact decimal it was read as (never through a float)."""
    return format(Decimal(rate.num).scaleb(-rate.scale), "f")


def rates(table: RatesTable) -> dict[str, Any]:
    """The rates table recorded with the run: enough to re-derive every base figure."""
    return {
        "base": table.base,
        "base_digits": table.base_digits,
        "rates": [
            {"currency": code, "rate": exact_rate(r), "digits": r.digits}
            for code, r in sorted(table.rates.items())
        ],
        "rule": CONVERSION_RULE,
        "source_text": table.source_text,
    }


def parse_filters(items: list[str]) -> tuple[tuple[str, str], ...]:
    """`dim:value` (or `dim=value`) items, several per item separated by commas."""
    out: list[tuple[str, str]] = []
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            sep = ":" if ":" in part else "="
            dim, _, value = part.partition(sep)
            if not value or dim not in DIMS:
                raise ApiError(
                    422,
                    f"filter: {part!r} must be dimension:value, with a dimension of "
                    f"{', '.join(DIMS)}",
                    field="filter",
                )
            out.append((dim, value))
    if len({d for d, _ in out}) != len(out):
        raise ApiError(422, "filter: one value per dimension", field="filter")
    return tuple(out)


def parse_by(text: str) -> tuple[str, ...]:
    return tuple(d.strip() for d in text.split(",") if d.strip())


def _query_error(exc: QueryError) -> ApiError:
    text = str(exc)
    name = text.split(":", 1)[0]
    field = name if name in ("metric", "by", "every", "filter") else None
    return ApiError(422, text, field=field)


def _check(metric: str, by: tuple[str, ...], where: tuple[tuple[str, str], ...], every: str):
    if metric not in METRICS:
        raise ApiError(
            422, f"metric: unknown {metric!r}; metrics are {', '.join(METRICS)}", field="metric"
        )
    if every not in PERIODS:
        raise ApiError(422, f"every: must be one of {', '.join(PERIODS)}", field="every")
    if len(set(by)) != len(by):
        raise ApiError(422, "by: a dimension is named twice", field="by")
    wide = (*by, *(d for d, _ in where if d not in by))
    try:
        grouping_set(wide)
        check_local(METRICS[metric], wide)
    except QueryError as exc:
        raise ApiError(422, str(exc), field="filter" if len(wide) > len(by) else "by") from exc
    return wide


def series(
    *,
    store: Store,
    digits: int,
    metric: str,
    by: tuple[str, ...],
    where: tuple[tuple[str, str], ...],
    start: int | None,
    end: int | None,
    every: str,
    limit: int,
    minor_digits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    wide = _check(metric, by, where, every)
    q = SeriesQuery(metric=metric, by=wide, every=every, start=start, end=end, where=where)
    try:
        frame = run_query(store, q, digits, minor_digits)
    except QueryError as exc:
        raise _query_error(exc) from exc
    frame = frame.select("window_start", *by, "value")
    rows = frame.head(limit).to_dicts()
    return {
        "metric": metric,
        "unit": METRICS[metric].unit,
        "every": every,
        "by": list(by),
        "filter": dict(where),
        "points": rows,
        "truncated": frame.height > limit,
    }


def slice_(
    *,
    store: Store,
    digits: int,
    metric: str,
    by: tuple[str, ...],
    where: tuple[tuple[str, str], ...],
    start: int | None,
    end: int | None,
    every: str,
    top: int | None = None,
    minor_digits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One value per `by` key over the whole range (ratios of sums, not sums of ratios)."""
    wide = _check(metric, by, where, every)
    if not by:
        raise ApiError(422, "by: name at least one dimension", field="by")
    gid, stored = grouping_set(wide)
    m = METRICS[metric]
    cells = store.cells(PERIODS[every], start, end)
    empty = {"metric": metric, "unit": m.unit, "by": list(by), "filter": dict(where), "rows": []}
    if cells.height == 0:
        return empty
    names = dict(zip(("k1", "k2"), stored, strict=False))
    cells = cells.filter(pl.col("gset") == gid).rename(names)
    for dim, value in where:
        cells = cells.filter(pl.col(dim) == value)
    summed = cells.group_by(list(by)).agg(pl.col(c).sum() for c in dict.fromkeys(m.needs))
    out = summed.select(*by, m.value().alias("value"))
    out = out.sort(["value", *by], descending=[True, *([False] * len(by))], nulls_last=True)
    if top is not None:
        out = out.head(top)
    fixed = dict(where)
    local = minor_digits or {}

    def places(row: dict[str, Any]) -> int:  # a local amount's digits are its currency's
        if m.unit != "money_local":
            return digits
        return local.get(row.get("currency") or fixed.get("currency", ""), 2)

    rows = [
        {**{d: r[d] for d in by}, "value": _fmt(r["value"], m.unit, places(r))}
        for r in out.iter_rows(named=True)
    ]
    return {**empty, "rows": rows}


def _fmt(value: Any, unit: str, digits: int) -> str | None:
    if value is None:
        return None
    if unit in ("money", "money_local"):
        return format_money(int(value), digits)
    if unit == "count":
        return str(int(value))
    return f"{value:.6f}"


def catalog() -> dict[str, Any]:
    from warroom.engine.cube import GSETS

    return {
        "metrics": [{"name": m.name, "unit": m.unit, "help": m.help} for m in METRICS.values()],
        "dimensions": list(DIMS),
        "pairs": [list(g) for g in GSETS if len(g) == 2],
        "every": list(PERIODS),
    }
