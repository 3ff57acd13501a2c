"""Scopes and the orders they resolve to.

The store keeps aggregates, not orders, so command keeps its own index of order lines
and shipments (`SqlOrderSource`), fed from the engine's `StepResult.records` (kind 0 =
order, 3 = shipment). Anything else that can answer `orders_in(scope)` can stand in
for it (the `OrderSource` protocol).

The index is columnar: each step's order lines are one Arrow IPC blob (lz4) in
`cmd_order_blocks`, and so are its shipments, and a query reads the blocks and filters
them in polars. A row per line, keyed by record id and indexed by order id, cost
SQLite 14-16 s for 1 M lines (two B-trees of random text keys, session 15), and the
server's index thread took that CPU from the writer on a 2-core machine; a block is
~2.5 ms to write for 10,000 lines. Queries are rare (a plan step, a dry run) and
read ~0.15 us a line (1 M lines: 0.14-0.23 s a scope, session 16).

Answers are sets of ids, so a line seen twice changes none; the server's index still
deletes the blocks past its checkpoint when it resumes (order_index.py), so a crash
does not grow it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Protocol

import msgspec
import polars as pl
import sqlalchemy as sa

from warroom.command.tables import ROW_TABLES, order_blocks_t
from warroom.store.db import ORDERS_SCHEMA

KIND_ORDER, KIND_SHIPMENT = 0, 3
SHIPPED = ("shipped", "delivered", "returned")  # every shipment status: it left the warehouse
LINE_SCHEMA = pl.Schema(
    {
        "order_id": pl.String,
        "merchant_id": pl.String,
        "sku_id": pl.String,
        "region": pl.String,
        "campaign": pl.String,
        "ts": pl.Int64,
    }
)
SHIP_SCHEMA = pl.Schema({"order_id": pl.String, "status": pl.String, "ts": pl.Int64})
CONVERT_ROWS = 100_000  # rows of the old layout read into one block at a time


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
        """Index a batch's order lines and shipments as the next step's blocks."""
        lines, ships = split(records)
        self._write(lines, ships)
        return lines.height + ships.height

    def _write(self, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        if lines.height + ships.height == 0:
            return
        with self.engine.begin() as c:
            write_blocks(c, next_seq(c), lines, ships)

    def orders_in(self, scope: Scope, *, unshipped: bool = False) -> list[str]:
        if not scope.narrows_orders():
            return []  # an empty scope must never mean "every order"
        with self.engine.connect() as c:
            found = scan(c, KIND_ORDER, "order_id", _matches(scope))
            if unshipped:
                found -= shipped_among(c, list(found), SHIPPED)
        return sorted(found)

    def merchants_in(self, scope: Scope) -> list[str]:
        found = set(scope.merchants)
        if scope.narrows_orders():
            with self.engine.connect() as c:
                merchants = scan(c, KIND_ORDER, "merchant_id", _matches(scope))
            found |= {m for m in merchants if m}  # a line may have no merchant
        return sorted(found)


def _matches(scope: Scope) -> pl.Expr:
    """The scope as a filter on order lines: given fields narrow together."""
    cond = pl.lit(True)
    for col, values in (
        ("merchant_id", scope.merchants),
        ("sku_id", scope.skus),
        ("region", scope.regions),
        ("campaign", scope.campaigns),
        ("order_id", scope.orders),
    ):
        if values:
            cond &= pl.col(col).is_in(list(values))
    if scope.since is not None:
        cond &= pl.col("ts") >= scope.since
    return cond


def scan(c: sa.Connection, kind: int, column: str, where: pl.Expr) -> set[str]:
    """The distinct values of `column` in the rows of `kind` that match `where`."""
    found: set[str] = set()
    for frame in blocks(c, kind):
        found.update(frame.filter(where)[column].unique().to_list())
    return found


def blocks(c: sa.Connection, kind: int) -> Iterator[pl.DataFrame]:
    """Every block of `kind`, oldest first, one in memory at a time."""
    t = order_blocks_t.c
    q = sa.select(t.data).where(t.kind == kind).order_by(t.seq)
    for data in c.execution_options(yield_per=16).execute(q).scalars():
        yield pl.read_ipc(io.BytesIO(data))


def shipped_among(c: sa.Connection, orders: list[str], statuses: tuple[str, ...]) -> set[str]:
    """Which of `orders` the index saw a shipment with one of `statuses` for."""
    if not orders:
        return set()
    where = pl.col("status").is_in(list(statuses)) & pl.col("order_id").is_in(orders)
    return scan(c, KIND_SHIPMENT, "order_id", where)


def split(records: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch's order lines and shipments, as the index's rows."""
    if records is None or records.height == 0:
        return pl.DataFrame(schema=LINE_SCHEMA), pl.DataFrame(schema=SHIP_SCHEMA)
    kind = records["kind"]
    lines = records.filter(kind == KIND_ORDER).select(LINE_SCHEMA.names())
    ships = records.filter(kind == KIND_SHIPMENT).select(SHIP_SCHEMA.names())
    return lines, ships


def next_seq(c: sa.Connection) -> int:
    """The number of the next step's blocks."""
    last = c.execute(sa.select(sa.func.max(order_blocks_t.c.seq))).scalar()
    return 0 if last is None else int(last) + 1


def write_blocks(c: sa.Connection, seq: int, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
    rows = [
        {"seq": seq, "kind": kind, "rows": frame.height, "data": ipc_bytes(frame)}
        for kind, frame in ((KIND_ORDER, lines), (KIND_SHIPMENT, ships))
        if frame.height
    ]
    if rows:
        c.execute(sa.insert(order_blocks_t), rows)


def ipc_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as Arrow IPC, lz4: a third of the bytes for ~0.6 ms more a 10,000-line step."""
    buf = io.BytesIO()
    frame.write_ipc(buf, compression="lz4")
    return buf.getvalue()


def convert_row_index(engine: sa.Engine) -> None:
    """A data directory from before the blocks keeps a row per line and shipment, in the
    orders database or, older still, the main one: write its rows as blocks and drop
    the old tables, in one transaction (a conversion cut short is redone whole)."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as c:
        for schema in ("main", ORDERS_SCHEMA) if sqlite else (None,):
            present = set(sa.inspect(c).get_table_names(schema=schema))
            for name, kind, schema_of in (
                (ROW_TABLES[0], KIND_ORDER, LINE_SCHEMA),
                (ROW_TABLES[1], KIND_SHIPMENT, SHIP_SCHEMA),
            ):
                if name not in present:
                    continue
                table = f"{schema}.{name}" if schema else name
                cols = ", ".join(schema_of.names())
                result = c.execution_options(yield_per=CONVERT_ROWS).exec_driver_sql(
                    f"SELECT {cols} FROM {table}"
                )
                for part in result.partitions():
                    frame = pl.DataFrame(part, schema=schema_of, orient="row")
                    empty = frame.clear()
                    pair = (frame, empty) if kind == KIND_ORDER else (empty, frame)
                    write_blocks(c, next_seq(c), *pair)
                c.exec_driver_sql(f"DROP TABLE {table}")
