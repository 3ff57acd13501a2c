"""Blast radius: the order lines placed on a finding's SKUs since their change, their
shipments and refunds.

A finding fires seconds after its change, so orders already on the way are found in a
short look-back buffer of recent order, shipment and refund records; from then on each
batch is matched as it arrives. Matching is a polars `is_in` on the few tracked SKUs
and orders, never a Python pass over the whole batch.
"""

from __future__ import annotations

import json

import polars as pl

from warroom.guards.catalog.finding import Finding, OrderLine
from warroom.guards.catalog.snapshot import CatalogState

ORDER, REFUND, SHIPMENT = 0, 2, 3
# `seq` names an order line: its place in the whole input (a line number restarts in
# every HTTP batch, so two lines of different batches could share one)
COLS = (
    "seq",
    "kind",
    "ts",
    "order_id",
    "merchant_id",
    "sku_id",
    "quantity",
    "sku_attrs",
    "status",
    "reason",
    "value_base",
)
SHIPPED = ("shipped", "delivered", "returned")
# Order lines this long before a change are the baseline of an order surge; well inside
# the look-back, so the count does not depend on where batches were cut.
BEFORE_MS = 10_000


class Blast:
    def __init__(self, state: CatalogState, lookback_ms: int) -> None:
        self.state = state
        self.lookback_ms = lookback_ms
        self.buffer: list[pl.DataFrame] = []
        self.by_sku: dict[str, list[Finding]] = {}
        self.by_order: dict[str, list[Finding]] = {}

    def track(self, finding: Finding, skus: list[str]) -> None:
        """Follow `skus` for `finding`, starting with the records still in the buffer."""
        for sku in skus:
            holders = self.by_sku.setdefault(sku, [])
            if finding not in holders:
                holders.append(finding)
        if self.buffer:
            self.absorb(pl.concat(self.buffer, how="vertical_relaxed"), skus)

    def step(self, records: pl.DataFrame | None, clock: int) -> set[int]:
        """Match a batch, then keep it for late-firing findings; ids of findings touched."""
        if records is None or records.height == 0:
            return set()
        frame = _compact(
            records.filter(pl.col("kind").is_in([ORDER, REFUND, SHIPMENT])).select(COLS)
        )
        touched = self.absorb(frame) if self.by_sku else set()
        self.buffer.append(frame)
        horizon = clock - self.lookback_ms
        self.buffer = [f for f in self.buffer if f.height and f["ts"].max() >= horizon]  # type: ignore[operator]
        return touched

    def absorb(self, frame: pl.DataFrame, skus: list[str] | None = None) -> set[int]:
        touched: set[int] = set()
        wanted = list(self.by_sku) if skus is None else skus
        orders = frame.filter((pl.col("kind") == ORDER) & pl.col("sku_id").is_in(wanted))
        for pos, ts, order, merchant, sku, qty, attrs, value in orders.select(
            "seq", "ts", "order_id", "merchant_id", "sku_id", "quantity", "sku_attrs", "value_base"
        ).iter_rows():
            for finding in self.by_sku.get(sku, []):
                hit = finding.skus.get(sku)
                if hit is None:
                    continue
                if ts < hit.since:  # the rate an order surge is measured against
                    if ts >= hit.since - BEFORE_MS:
                        finding.before.add(pos)
                    continue
                fixed = 0 <= finding.resolved <= ts  # placed after the fix: not at risk
                if fixed or pos in finding.lines:
                    continue
                finding.lines[pos] = OrderLine(
                    order, sku, merchant, ts, qty or 0, value or 0, self._shows_new(sku, attrs)
                )
                holders = self.by_order.setdefault(order, [])
                if finding not in holders:
                    holders.append(finding)
                finding.dirty = True
                touched.add(id(finding))
        if not self.by_order:
            return touched
        after = frame.filter(
            pl.col("kind").is_in([REFUND, SHIPMENT]) & pl.col("order_id").is_in(list(self.by_order))
        )
        for kind, order, status, reason in after.select(
            "kind", "order_id", "status", "reason"
        ).iter_rows():
            for finding in self.by_order.get(order, []):
                if kind == SHIPMENT and status in SHIPPED:
                    finding.shipped[order] = status
                elif kind == REFUND:
                    finding.refunds[order] = reason or "other"
                finding.dirty = True
                touched.add(id(finding))
        return touched

    def _shows_new(self, sku: str, attrs_text: str | None) -> bool:
        """The order shows the changed attributes rather than the snapshot's."""
        info = self.state.info(sku)
        if not attrs_text or info is None:
            return False
        try:
            shown = {str(k): str(v) for k, v in json.loads(attrs_text).items()}
        except (ValueError, AttributeError):
            return False
        return shown != info.attrs and shown == self.state.current_attrs(sku)


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy that owns its strings. A filtered polars string column is a view into the
    whole batch's buffers, so keeping it would keep every record of 30 s of batches
    (~100 MiB on the simulated day); a round trip through Arrow's plain strings copies
    only the rows kept."""
    return pl.DataFrame(pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest())))
