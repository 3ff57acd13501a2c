"""Scopes and the orders they resolve to.

The store keeps aggregates, not orders, so command keeps its own small index of order
lines and shipments (`SqlOrderSource`), fed from the engine's `StepResult.records`
(kind 0 = order, 3 = shipment). Anything else that can answer `orders_in(scope)` can
stand in for it (the `OrderSource` protocol).
"""

from __future__ import annotations

from typing import Protocol

import msgspec
import polars as pl
import sqlalchemy as sa

from warroom.command.tables import order_lines_t, shipments_t

KIND_ORDER, KIND_SHIPMENT = 0, 3


class Scope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a step acts on. Given fields narrow together (AND); empty lists do not narrow."""

    merchants: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    since: int | None = None  # event-time ms: orders placed at or after it

    def narrows_orders(self) -> bool:
        return bool(self.merchants or self.skus or self.regions or self.campaigns or self.orders)


class OrderSource(Protocol):
    def orders_in(self, scope: Scope, *, unshipped: bool = False) -> list[str]:
        """Sorted order ids with a line matching the scope."""
        ...

    def merchants_in(self, scope: Scope) -> list[str]:
        """Sorted merchants of the scope's orders, plus those named in it."""
        ...


class SqlOrderSource:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def feed(self, records: pl.DataFrame | None) -> int:
        """Index a batch's order lines and shipments (idempotent by record id)."""
        lines, ships = split(records)
        self._write(lines, ships)
        return lines.height + ships.height

    def _write(self, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        with self.engine.begin() as c:
            insert_rows(c, lines, ships)

    def _where(self, scope: Scope) -> list[sa.ColumnElement[bool]]:
        t = order_lines_t.c
        conds: list[sa.ColumnElement[bool]] = []
        for col, values in (
            (t.merchant_id, scope.merchants),
            (t.sku_id, scope.skus),
            (t.region, scope.regions),
            (t.campaign, scope.campaigns),
            (t.order_id, scope.orders),
        ):
            if values:
                conds.append(col.in_(values))
        if scope.since is not None:
            conds.append(t.ts >= scope.since)
        return conds

    def orders_in(self, scope: Scope, *, unshipped: bool = False) -> list[str]:
        if not scope.narrows_orders():
            return []  # an empty scope must never mean "every order"
        q = sa.select(order_lines_t.c.order_id).where(*self._where(scope)).distinct()
        if unshipped:
            shipped = sa.select(shipments_t.c.order_id).where(shipments_t.c.status == "shipped")
            q = q.where(order_lines_t.c.order_id.not_in(shipped))
        with self.engine.connect() as c:
            return sorted(c.execute(q).scalars())

    def merchants_in(self, scope: Scope) -> list[str]:
        found = set(scope.merchants)
        if scope.narrows_orders():
            q = sa.select(order_lines_t.c.merchant_id).where(*self._where(scope)).distinct()
            with self.engine.connect() as c:
                found.update(m for m in c.execute(q).scalars() if m)
        return sorted(found)


def split(records: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch's order lines and shipments, as the index's rows."""
    if records is None or records.height == 0:
        return pl.DataFrame(), pl.DataFrame()
    lines = records.filter(pl.col("kind") == KIND_ORDER).select(
        pl.col("id").alias("record_id"),
        "order_id",
        "merchant_id",
        "sku_id",
        "region",
        "campaign",
        "ts",
    )
    ships = records.filter(pl.col("kind") == KIND_SHIPMENT).select(
        pl.col("id").alias("record_id"), "order_id", "status", "ts"
    )
    return lines, ships


def insert_rows(c: sa.Connection, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
    for table, frame in ((order_lines_t, lines), (shipments_t, ships)):
        if frame.height:
            _insert_new(c, table, frame)


def _insert_new(c: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """Insert rows whose record id is not there yet. On SQLite the rows go in as one
    JSON text that SQLite itself takes apart (`json_each`): one statement, so the
    driver releases the GIL once for the batch. Its executemany released and retook
    the GIL for every row, and binding each row's values from Python tuples held it
    (3.4-3.9 us a row in all against 4.5-6.3 here, but all of this runs without the
    GIL: the server's index thread then takes nothing from its writer)."""
    if c.dialect.name == "sqlite":
        cols = ", ".join(frame.columns)
        fields = ", ".join(f"value->>'{name}'" for name in frame.columns)
        sql = f"INSERT OR IGNORE INTO {table.fullname} ({cols}) SELECT {fields} FROM json_each(?)"
        c.exec_driver_sql(sql, (frame.write_json(),))
        return
    stmt = sa.insert(table)
    if c.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing()
    c.execute(stmt, frame.to_dicts())
