"""Findings and their blast radius in the run's database (own tables, own MetaData).

Each save rewrites the rows of the findings changed since the last one, in one
transaction, so a reader sees a finding either before or after a step, never half.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from warroom.guards.catalog.finding import Finding

metadata = sa.MetaData()
findings_t = sa.Table(
    "catalog_findings",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("first_change", sa.BigInteger, nullable=False),
    sa.Column("fired", sa.BigInteger, nullable=False),
    sa.Column("resolved", sa.BigInteger),
    sa.Column("severity", sa.String, nullable=False),
    sa.Column("mass", sa.Boolean, nullable=False),
    sa.Column("gmv_at_risk", sa.BigInteger, nullable=False),  # base minor units
    sa.Column("gmv_unshipped", sa.BigInteger, nullable=False),
    sa.Column("corroboration", sa.Text, nullable=False),  # JSON object of counts
    sa.Column("alert", sa.Text, nullable=False),  # the OUTPUTS.md record, current entities
)
skus_t = sa.Table(
    "catalog_finding_skus",
    metadata,
    sa.Column("finding_id", sa.String, nullable=False, index=True),
    sa.Column("sku_id", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=False, index=True),
    sa.Column("item_id", sa.String, nullable=False),
    sa.Column("since", sa.BigInteger, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("restore", sa.Text, nullable=False),  # JSON: the snapshot's values
    sa.Column("current", sa.Text, nullable=False),  # JSON: the values the change left
    sa.Column("restored", sa.Boolean, nullable=False),
)
orders_t = sa.Table(
    "catalog_blast_orders",
    metadata,
    sa.Column("finding_id", sa.String, nullable=False, index=True),
    sa.Column("pos", sa.BigInteger, nullable=False),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("sku_id", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=False, index=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("value_base", sa.BigInteger, nullable=False),
    sa.Column("shipped", sa.String),  # latest shipment status, or null
    sa.Column("shows_new", sa.Boolean, nullable=False),
    sa.Column("refund_reason", sa.String),
)


class CatalogStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def save(self, findings: Iterable[Finding], base_digits: int) -> int:
        dirty = [f for f in findings if f.dirty]
        if not dirty:
            return 0
        with self.engine.begin() as c:
            for f in dirty:
                for table in (findings_t, skus_t, orders_t):
                    col = table.c.id if table is findings_t else table.c.finding_id
                    c.execute(table.delete().where(col == f.id))
                c.execute(findings_t.insert(), [_finding_row(f, base_digits)])
                c.execute(skus_t.insert(), [_sku_rows(f, s) for s in sorted(f.skus)])
                if f.lines:
                    c.execute(orders_t.insert(), _order_rows(f))
                f.dirty = False
        return len(dirty)

    # -- reading ----------------------------------------------------------------------
    def findings(self, state: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(findings_t).order_by(findings_t.c.fired, findings_t.c.id)
        if state is not None:
            q = q.where(findings_t.c.state == state)
        with self.engine.connect() as c:
            return [_decode(dict(r._mapping)) for r in c.execute(q)]

    def finding(self, finding_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(findings_t).where(findings_t.c.id == finding_id)).first()
        return None if row is None else _decode(dict(row._mapping))

    def skus(self, finding_id: str | None = None, merchant: str | None = None) -> list[dict]:
        q = sa.select(skus_t).order_by(skus_t.c.finding_id, skus_t.c.sku_id)
        if finding_id is not None:
            q = q.where(skus_t.c.finding_id == finding_id)
        if merchant is not None:
            q = q.where(skus_t.c.merchant_id == merchant)
        with self.engine.connect() as c:
            return [_decode(dict(r._mapping)) for r in c.execute(q)]

    def orders(self, finding_id: str | None = None, merchant: str | None = None) -> list[dict]:
        q = sa.select(orders_t).order_by(orders_t.c.finding_id, orders_t.c.pos)
        if finding_id is not None:
            q = q.where(orders_t.c.finding_id == finding_id)
        if merchant is not None:
            q = q.where(orders_t.c.merchant_id == merchant)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def order_counts(self) -> dict[str, tuple[int, int]]:
        """Per finding: (orders shipped, orders not shipped), distinct orders."""
        t = orders_t.c
        shipped = sa.func.count(sa.distinct(sa.case((t.shipped.is_not(None), t.order_id))))
        waiting = sa.func.count(sa.distinct(sa.case((t.shipped.is_(None), t.order_id))))
        q = sa.select(t.finding_id, shipped, waiting).group_by(t.finding_id)
        with self.engine.connect() as c:
            return {f: (int(s), int(w)) for f, s, w in c.execute(q)}


def _finding_row(f: Finding, base_digits: int) -> dict[str, Any]:
    alert = f.alert(base_digits)
    return {
        "id": f.id,
        "kind": f.kind,
        "actor": f.actor,
        "state": alert.state,
        "first_change": f.first_change,
        "fired": f.fired,
        "resolved": f.resolved if f.resolved >= 0 else None,
        "severity": alert.severity,
        "mass": f.mass,
        "gmv_at_risk": f.gmv_at_risk(),
        "gmv_unshipped": f.gmv_at_risk(shipped=False),
        "corroboration": json.dumps(f.corroboration()),
        "alert": json.dumps(alert.record()),
    }


def _sku_rows(f: Finding, sku: str) -> dict[str, Any]:
    h = f.skus[sku]
    return {
        "finding_id": f.id,
        "sku_id": sku,
        "merchant_id": h.merchant,
        "item_id": h.item,
        "since": h.since,
        "reasons": json.dumps(h.reasons),
        "restore": json.dumps(h.restore, sort_keys=True),
        "current": json.dumps(h.current, sort_keys=True),
        "restored": h.restored,
    }


def _order_rows(f: Finding) -> list[dict[str, Any]]:
    return [
        {
            "finding_id": f.id,
            "pos": pos,
            "order_id": ln.order,
            "sku_id": ln.sku,
            "merchant_id": ln.merchant,
            "ts": ln.ts,
            "quantity": ln.quantity,
            "value_base": ln.value_base,
            "shipped": f.shipped.get(ln.order),
            "shows_new": ln.shows_new,
            "refund_reason": f.refunds.get(ln.order),
        }
        for pos, ln in sorted(f.lines.items())
    ]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("corroboration", "alert", "reasons", "restore", "current"):
        if key in row:
            row[key] = json.loads(row[key])
    return row
