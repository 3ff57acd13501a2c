"""The metric catalog: how each KPI is read from the cells' integer columns.

Cells hold only exact integers; ratios and quantiles are derived here, after cells
are summed, so every resolution and every slice is computed the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import polars as pl

from warroom.engine.cube import LAT_COLS, LATENCY_BOUNDS_MS

# money_local: minor units of each row's own currency (read by currency only)
Unit = Literal["money", "money_local", "count", "ratio", "ms"]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: Unit
    needs: tuple[str, ...]  # cell columns summed before `value` is computed
    value: Callable[[], pl.Expr]
    help: str


def _col(name: str) -> Callable[[], pl.Expr]:
    return lambda: pl.col(name)


def _ratio(num: str, den: str) -> Callable[[], pl.Expr]:
    return lambda: pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def _quantile(q: float) -> Callable[[], pl.Expr]:
    """Prometheus-style: linear interpolation inside the bucket holding the q-th value."""

    def expr() -> pl.Expr:
        total = pl.sum_horizontal([pl.col(c) for c in LAT_COLS])
        rank = total * q
        cum = [
            pl.sum_horizontal([pl.col(c) for c in LAT_COLS[: i + 1]]) for i in range(len(LAT_COLS))
        ]
        bounds = (0, *LATENCY_BOUNDS_MS)
        out = pl.lit(None, dtype=pl.Float64)
        for i in reversed(range(len(LAT_COLS))):
            lower = float(bounds[i])
            if i == len(LAT_COLS) - 1:  # the open bucket: report its lower bound
                est = pl.lit(lower)
            else:
                upper = float(bounds[i + 1])
                before = cum[i - 1] if i else pl.lit(0)
                inside = pl.col(LAT_COLS[i])
                est = lower + (upper - lower) * (rank - before) / inside
            out = pl.when((cum[i] >= rank) & (pl.col(LAT_COLS[i]) > 0)).then(est).otherwise(out)
        return pl.when(total > 0).then(out).otherwise(None)

    return expr


_M = [
    Metric(
        "gmv", "money", ("gmv",), _col("gmv"), "order lines' quantity x unit price, base currency"
    ),
    Metric("orders", "count", ("orders",), _col("orders"), "distinct orders placed"),
    Metric("order_lines", "count", ("order_lines",), _col("order_lines"), "order lines placed"),
    Metric(
        "buyers",
        "count",
        ("buyers",),
        _col("buyers"),
        "distinct buyers (exact per second; HyperLogLog, 1.6 % error, per minute and hour)",
    ),
    Metric("visits", "count", ("visits",), _col("visits"), "page visits"),
    Metric(
        "conversion", "ratio", ("orders", "visits"), _ratio("orders", "visits"), "orders / visits"
    ),
    Metric(
        "payment_attempts",
        "count",
        ("pay_attempts",),
        _col("pay_attempts"),
        "payment attempts finished",
    ),
    Metric(
        "payment_successes",
        "count",
        ("pay_successes",),
        _col("pay_successes"),
        "payment attempts that succeeded",
    ),
    Metric(
        "payment_success_rate",
        "ratio",
        ("pay_successes", "pay_attempts"),
        _ratio("pay_successes", "pay_attempts"),
        "successes / attempts",
    ),
    Metric(
        "payment_amount",
        "money",
        ("pay_amount",),
        _col("pay_amount"),
        "amount of succeeded payments, base currency",
    ),
    *[
        Metric(
            f"payment_latency_p{int(q * 100)}",
            "ms",
            LAT_COLS,
            _quantile(q),
            f"payment latency, {int(q * 100)}th percentile (histogram estimate)",
        )
        for q in (0.5, 0.9, 0.99)
    ],
    Metric("refunds", "count", ("refunds",), _col("refunds"), "refund requests"),
    Metric(
        "refund_amount",
        "money",
        ("refund_amount",),
        _col("refund_amount"),
        "amount of refund requests, base currency",
    ),
    Metric(
        "refund_rate",
        "ratio",
        ("refunds", "orders"),
        _ratio("refunds", "orders"),
        "refund requests / orders in the same window",
    ),
    Metric(
        "gmv_local",
        "money_local",
        ("gmv_local",),
        _col("gmv_local"),
        "GMV in each currency's own units (by currency)",
    ),
    Metric(
        "payment_amount_local",
        "money_local",
        ("pay_amount_local",),
        _col("pay_amount_local"),
        "amount of succeeded payments in each currency's own units (by currency)",
    ),
    Metric(
        "refund_amount_local",
        "money_local",
        ("refund_amount_local",),
        _col("refund_amount_local"),
        "amount of refund requests in each currency's own units (by currency)",
    ),
    Metric("shipments", "count", ("shipments",), _col("shipments"), "parcels shipped"),
    Metric("deliveries", "count", ("deliveries",), _col("deliveries"), "parcels delivered"),
    Metric("returns", "count", ("returns",), _col("returns"), "parcels returned"),
    Metric(
        "sku_changes", "count", ("sku_changes",), _col("sku_changes"), "SKU configuration changes"
    ),
]
METRICS: dict[str, Metric] = {m.name: m for m in _M}


def format_money(minor: int, digits: int) -> str:
    """Exact decimal string of an integer amount of minor units."""
    return str(Decimal(minor).scaleb(-digits)) if digits else str(minor)
