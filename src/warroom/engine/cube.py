"""The dimensional cube: grouping sets and the per-window aggregation of one frame.

A cell is (window, grouping set, key1, key2) -> integer metrics. Every metric here is
an exact integer (money in base minor units); ratios and quantiles are derived when
read (series/metrics.py), so cells merge by plain addition.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from warroom.engine.dims import DIMS

# () is the whole market; then every dimension; then the pairs root cause needs most.
GSETS: Final[tuple[tuple[str, ...], ...]] = (
    (),
    *((d,) for d in DIMS),
    ("region", "channel"),
    ("region", "method"),
    ("country", "method"),
    ("category", "channel"),
    ("category", "method"),
    ("channel", "method"),
    ("region", "category"),
    ("campaign", "category"),
    ("campaign", "region"),
)
GSET_ID: Final = {g: i for i, g in enumerate(GSETS)}

KIND_ORDER, KIND_PAYMENT, KIND_REFUND, KIND_SHIPMENT, KIND_SKU, KIND_VISIT = range(6)
PAY_OK, PAY_FAILED = 1, 2
SHIP_SHIPPED, SHIP_DELIVERED, SHIP_RETURNED = 1, 2, 3

LATENCY_BOUNDS_MS: Final = (
    10,
    25,
    50,
    100,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
    30000,
)
LAT_COLS: Final = tuple(f"lat_{i}" for i in range(len(LATENCY_BOUNDS_MS) + 1))

ADDITIVE: Final = (
    "gmv",
    "order_lines",
    "visits",
    "pay_attempts",
    "pay_successes",
    "pay_amount",
    "refunds",
    "refund_amount",
    "shipments",
    "deliveries",
    "returns",
    "sku_changes",
    *LAT_COLS,
)
DISTINCT: Final = ("orders", "buyers")
METRIC_COLS: Final = (*ADDITIVE[:2], *DISTINCT, *ADDITIVE[2:])
KEY_COLS: Final = ("win", "gset", "k1", "k2")
LOW_CARD: Final = tuple(d for d in DIMS if d != "merchant")


def indicators(frame: pl.DataFrame) -> pl.DataFrame:
    """One integer column per additive metric, so that aggregation is sums only."""
    kind, status, value = pl.col("kind"), pl.col("status"), pl.col("value_base")
    is_pay = kind == KIND_PAYMENT
    i64 = pl.Int64

    def count(cond: pl.Expr) -> pl.Expr:
        return cond.cast(i64)

    lat = [count(is_pay & (pl.col("lat_bucket") == i)).alias(c) for i, c in enumerate(LAT_COLS)]
    return frame.select(
        pl.col("win"),
        *[pl.col(d) for d in DIMS],
        pl.when(kind == KIND_ORDER).then(value).otherwise(0).alias("gmv"),
        count(kind == KIND_ORDER).alias("order_lines"),
        count(kind == KIND_VISIT).alias("visits"),
        count(is_pay).alias("pay_attempts"),
        count(is_pay & (status == PAY_OK)).alias("pay_successes"),
        pl.when(is_pay & (status == PAY_OK)).then(value).otherwise(0).alias("pay_amount"),
        count(kind == KIND_REFUND).alias("refunds"),
        pl.when(kind == KIND_REFUND).then(value).otherwise(0).alias("refund_amount"),
        count((kind == KIND_SHIPMENT) & (status == SHIP_SHIPPED)).alias("shipments"),
        count((kind == KIND_SHIPMENT) & (status == SHIP_DELIVERED)).alias("deliveries"),
        count((kind == KIND_SHIPMENT) & (status == SHIP_RETURNED)).alias("returns"),
        count(kind == KIND_SKU).alias("sku_changes"),
        *lat,
    )


def aggregate(frame: pl.DataFrame) -> pl.DataFrame:
    """Cells of every grouping set for the windows in `frame` (codes, not strings)."""
    ind = indicators(frame)
    sums = [pl.col(c).sum() for c in ADDITIVE]
    fine = ind.group_by(["win", *LOW_CARD]).agg(sums)  # far fewer rows than events
    placed = frame.filter(pl.col("kind") == KIND_ORDER).select(
        "win", *DIMS, "order_hash", "user_hash"
    )
    parts = []
    for gid, gset in enumerate(GSETS):
        keys = ["win", *gset]
        base = ind if "merchant" in gset else fine
        add = base.group_by(keys).agg(sums)
        distinct = placed.group_by(keys).agg(
            pl.col("order_hash").n_unique().cast(pl.Int64).alias("orders"),
            pl.col("user_hash").n_unique().cast(pl.Int64).alias("buyers"),
        )
        cells = add.join(distinct, on=keys, how="full", coalesce=True).fill_null(0)
        parts.append(
            cells.select(
                *_cell_keys(gid, gset),
                *[pl.col(c).cast(pl.Int64) for c in METRIC_COLS],
            )
        )
    return pl.concat(parts)


def _cell_keys(gid: int, gset: tuple[str, ...]) -> list[pl.Expr]:
    """win, gset, k1, k2: a grouping set's dimension codes in the cells' key columns."""
    return [
        pl.col("win"),
        pl.lit(gid, pl.UInt8).alias("gset"),
        (pl.col(gset[0]) if gset else pl.lit(0)).cast(pl.Int32).alias("k1"),
        (pl.col(gset[1]) if len(gset) > 1 else pl.lit(0)).cast(pl.Int32).alias("k2"),
    ]


def keyed_users(frame: pl.DataFrame) -> pl.DataFrame:
    """(win, gset, k1, k2, user_hash) for every order line: the input of distinct buyers."""
    placed = frame.filter(pl.col("kind") == KIND_ORDER)
    parts = []
    for gid, gset in enumerate(GSETS):
        parts.append(
            placed.select(
                *_cell_keys(gid, gset),
                pl.col("user_hash"),
            )
        )
    return pl.concat(parts)
