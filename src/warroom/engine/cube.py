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
    ("campaign", "currency"),
)
GSET_ID: Final = {g: i for i, g in enumerate(GSETS)}
# Grouping sets for views only: the watch skips them (a currency moves with its country,
# so it would compete with the country as the explaining slice).
VIEW_ONLY: Final = frozenset(i for i, g in enumerate(GSETS) if "currency" in g)

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

# Money in the record's own currency's minor units: only in grouping sets that hold
# `currency` (elsewhere 0: a sum across currencies means nothing).
LOCAL_COLS: Final = ("gmv_local", "pay_amount_local", "refund_amount_local")
# What a per-currency view sums: base-currency money beside the same money in the
# currency's own minor units (the wall's panel, a campaign's breakdown).
CURRENCY_SUMS: Final = (
    "gmv",
    "gmv_local",
    "pay_amount",
    "pay_amount_local",
    "refund_amount",
    "refund_amount_local",
    "orders",
)
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
    *LOCAL_COLS,
)
DISTINCT: Final = ("orders", "buyers")
METRIC_COLS: Final = (*ADDITIVE[:2], *DISTINCT, *ADDITIVE[2:])
KEY_COLS: Final = ("win", "gset", "k1", "k2")
# Without merchant and currency: a currency goes with its merchant, not with the buyer's
# region, so with it the rows every pair is summed from multiplied.
LOW_CARD: Final = tuple(d for d in DIMS if d not in ("merchant", "currency"))


FINE_KEYS: Final = ("win", *DIMS)
PAIRS: Final = tuple(g for g in GSETS if len(g) == 2 and "currency" not in g)
# Each single dimension and the market are summed from a pair that holds them, which
# has far fewer rows than the events; merchant, outside every pair, from the fine cells.
PARENT: Final = {
    ("region",): ("region", "channel"),
    ("country",): ("country", "method"),
    ("channel",): ("channel", "method"),
    ("category",): ("category", "channel"),
    ("method",): ("channel", "method"),
    ("campaign",): ("campaign", "category"),
    ("currency",): ("campaign", "currency"),
    (): ("channel", "method"),
}
_SUMS: Final = tuple(pl.col(c).sum() for c in ADDITIVE if c not in LOCAL_COLS)
_SUMS_LOCAL: Final = tuple(pl.col(c).sum() for c in ADDITIVE)  # the currency sets only


def fine_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Additive metrics per window and every dimension at once.

    Rows are first counted per (kind, status, latency bucket), two aggregates over the
    events; the metric columns are then made from those far fewer rows."""
    keyed = frame.group_by([*FINE_KEYS, "kind", "status", "lat_bucket"]).agg(
        n=pl.len().cast(pl.Int64), v=pl.col("value_base").sum(), u=pl.col("value_minor").sum()
    )
    kind, status, value, n = pl.col("kind"), pl.col("status"), pl.col("v"), pl.col("n")
    is_pay = kind == KIND_PAYMENT

    def count(cond: pl.Expr) -> pl.Expr:
        return pl.when(cond).then(n).otherwise(0).sum()

    def amount(cond: pl.Expr, of: pl.Expr = value) -> pl.Expr:
        return pl.when(cond).then(of).otherwise(0).sum()

    lat = [count(is_pay & (pl.col("lat_bucket") == i)).alias(c) for i, c in enumerate(LAT_COLS)]
    return keyed.group_by(list(FINE_KEYS)).agg(
        amount(kind == KIND_ORDER).alias("gmv"),
        count(kind == KIND_ORDER).alias("order_lines"),
        count(kind == KIND_VISIT).alias("visits"),
        count(is_pay).alias("pay_attempts"),
        count(is_pay & (status == PAY_OK)).alias("pay_successes"),
        amount(is_pay & (status == PAY_OK)).alias("pay_amount"),
        count(kind == KIND_REFUND).alias("refunds"),
        amount(kind == KIND_REFUND).alias("refund_amount"),
        count((kind == KIND_SHIPMENT) & (status == SHIP_SHIPPED)).alias("shipments"),
        count((kind == KIND_SHIPMENT) & (status == SHIP_DELIVERED)).alias("deliveries"),
        count((kind == KIND_SHIPMENT) & (status == SHIP_RETURNED)).alias("returns"),
        count(kind == KIND_SKU).alias("sku_changes"),
        *lat,
        amount(kind == KIND_ORDER, pl.col("u")).alias("gmv_local"),
        amount(is_pay & (status == PAY_OK), pl.col("u")).alias("pay_amount_local"),
        amount(kind == KIND_REFUND, pl.col("u")).alias("refund_amount_local"),
    )


def aggregate(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cells of every grouping set for the windows in `frame` (codes, not strings), and
    the keyed buyers of its order lines (win, gset, k1, k2, user_hash) for the sketches.

    Every grouping set's rows are stacked under one key (win, gset, k1, k2) so that the
    distinct counts and the join take one operation each, not one per grouping set:
    small batches (HTTP ingest) are dominated by the number of operations."""
    fine = fine_cells(frame)
    low = fine.group_by(["win", *LOW_CARD]).agg(_SUMS)
    additive = {pair: low.group_by(["win", *pair]).agg(_SUMS) for pair in PAIRS}
    additive[("merchant",)] = fine.group_by(["win", "merchant"]).agg(_SUMS)
    additive[("campaign", "currency")] = fine.group_by(["win", "campaign", "currency"]).agg(
        _SUMS_LOCAL
    )
    for gset, parent in PARENT.items():
        sums = _SUMS_LOCAL if "currency" in gset else _SUMS
        additive[gset] = additive[parent].group_by(["win", *gset]).agg(sums)
    stacked = pl.concat(
        [
            additive[gset].select(*_cell_keys(gid, gset), *_additive(gid))
            for gid, gset in enumerate(GSETS)
        ]
    )
    placed = frame.filter(pl.col("kind") == KIND_ORDER)
    keyed = pl.concat(
        [
            placed.select(*_cell_keys(gid, gset), "order_hash", "user_hash")
            for gid, gset in enumerate(GSETS)
        ]
    )
    distinct = keyed.group_by(list(KEY_COLS)).agg(
        pl.col("order_hash").n_unique().cast(pl.Int64).alias("orders"),
        pl.col("user_hash").n_unique().cast(pl.Int64).alias("buyers"),
    )
    # every order line is in `stacked` too, so a left join keeps every cell
    cells = stacked.join(distinct, on=list(KEY_COLS), how="left").select(
        *KEY_COLS, *[pl.col(c).fill_null(0).cast(pl.Int64) for c in METRIC_COLS]
    )
    return cells, keyed.select(*KEY_COLS, "user_hash")


def _additive(gid: int) -> list[pl.Expr]:
    if gid in VIEW_ONLY:
        return [pl.col(c) for c in ADDITIVE]
    return [pl.col(c) if c not in LOCAL_COLS else pl.lit(0, pl.Int64).alias(c) for c in ADDITIVE]


def _cell_keys(gid: int, gset: tuple[str, ...]) -> list[pl.Expr]:
    """win, gset, k1, k2: a grouping set's dimension codes in the cells' key columns."""
    return [
        pl.col("win"),
        pl.lit(gid, pl.UInt8).alias("gset"),
        (pl.col(gset[0]) if gset else pl.lit(0)).cast(pl.Int32).alias("k1"),
        (pl.col(gset[1]) if len(gset) > 1 else pl.lit(0)).cast(pl.Int32).alias("k2"),
    ]
