"""Hold shipping for a scope; a shipment of a held order is a violation, counted.

A hold is a row per order with the step that placed it (`ref`); release stamps
`released_ms` instead of deleting, so the history of who held what stays readable.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import sqlalchemy as sa

from warroom.command.actions.base import ActionContext, ActionSpec, Touch, touch
from warroom.command.orders import KIND_SHIPMENT, Scope
from warroom.command.tables import holds_t, violations_t

_ON = holds_t.c.released_ms.is_(None)


def held_orders(engine: sa.Engine, *, ref: str | None = None) -> list[str]:
    q = sa.select(holds_t.c.order_id).where(_ON).distinct()
    if ref is not None:
        q = q.where(holds_t.c.ref == ref)
    with engine.connect() as c:
        return sorted(c.execute(q).scalars())


def record_shipment(
    engine: sa.Engine, *, order_id: str, ts: int, record_id: str | None = None
) -> bool:
    """Note a shipment event; True (and one violation counted) if its order is held."""
    with engine.begin() as c:
        ref = c.execute(
            sa.select(holds_t.c.ref).where(_ON, holds_t.c.order_id == order_id).limit(1)
        ).scalar()
        if ref is None:
            return False
        stmt = sa.insert(violations_t).prefix_with("OR IGNORE", dialect="sqlite")
        rid = record_id or f"{order_id}@{ts}"
        c.execute(stmt.values(order_id=order_id, ref=ref, shipment_ts=ts, record_id=rid))
        return True


def observe(engine: sa.Engine, records: pl.DataFrame | None) -> int:
    """Check a batch's shipment records against the holds; violations found."""
    if records is None or records.height == 0:
        return 0
    ships = records.filter(pl.col("kind") == KIND_SHIPMENT).select("id", "order_id", "ts")
    return sum(
        record_shipment(engine, order_id=o, ts=ts, record_id=rid) for rid, o, ts in ships.rows()
    )


def violations(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(sa.select(violations_t).order_by(violations_t.c.seq))
        return [dict(r._mapping) for r in rows]


class HoldShipping:
    spec = ActionSpec(
        "hold_shipping",
        "hold every unshipped order in the scope",
        scope=("merchants", "skus", "regions", "campaigns", "orders"),
    )

    def _targets(self, ctx: ActionContext, scope: Scope) -> list[str]:
        held = set(held_orders(ctx.engine))
        return [o for o in ctx.orders.orders_in(scope, unshipped=True) if o not in held]

    def dry_run(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any]) -> Touch:
        return touch(self.spec.name, orders=self._targets(ctx, scope))

    def apply(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any], ref: str) -> Touch:
        orders = self._targets(ctx, scope)
        now = ctx.clock.now_ms()
        if orders:
            with ctx.engine.begin() as c:
                c.execute(
                    sa.insert(holds_t),
                    [{"order_id": o, "ref": ref, "held_ms": now} for o in orders],
                )
        return touch(self.spec.name, orders=orders)

    def undo(self, ctx: ActionContext, *, ref: str, applied: Touch) -> Touch:
        released = held_orders(ctx.engine, ref=ref)
        with ctx.engine.begin() as c:
            c.execute(
                sa.update(holds_t)
                .where(_ON, holds_t.c.ref == ref)
                .values(released_ms=ctx.clock.now_ms())
            )
        return touch("release_shipping", orders=released)
