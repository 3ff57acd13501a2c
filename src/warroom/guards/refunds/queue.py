"""Decisions and the review queue in the store, and reviewers' verdicts (audited).

Functions take keyword arguments and know nothing of HTTP; the API router and the CLI
only translate to them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from warroom.audit import AuditEvent, AuditLog
from warroom.guards.refunds.decider import Decision
from warroom.guards.refunds.errors import ReviewError

metadata = sa.MetaData()
decisions_t = sa.Table(
    "refund_decisions",
    metadata,
    sa.Column("event_id", sa.String, primary_key=True),  # one decision per refund event
    sa.Column("refund_id", sa.String, nullable=False, index=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.String, nullable=False, index=True),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=False),
    sa.Column("category", sa.String, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("decision", sa.String, nullable=False),  # approve | review
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),  # JSON list
    sa.Column("signals", sa.Text, nullable=False),  # JSON object name -> strength
    sa.Column("policy", sa.String, nullable=False),
    # approved (at once) | pending | approved_by_reviewer | rejected
    sa.Column("status", sa.String, nullable=False, index=True),
    sa.Column("reviewer", sa.String, nullable=True),
    sa.Column("reviewed_utc_ms", sa.BigInteger, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)
stats_t = sa.Table(
    "refund_stats",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
VERDICTS = {"approve": "approved_by_reviewer", "reject": "rejected"}


class ReviewQueue:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self.audit = AuditLog(engine)

    def record(self, decisions: Iterable[Decision], *, policy: str, orders_seen: int) -> int:
        """Store decisions (a decision already stored, after a resume, is kept as it was)."""
        rows = [
            {
                "event_id": d.event_id or d.refund_id,
                "refund_id": d.refund_id,
                "ts": d.ts,
                "user_id": d.user_id,
                "order_id": d.order_id,
                "merchant_id": d.merchant_id,
                "category": d.category,
                "amount_minor": d.amount_minor,
                "decision": d.decision,
                "risk": d.risk,
                "reasons": json.dumps(d.reasons, ensure_ascii=False),
                "signals": json.dumps(d.signals),
                "policy": policy,
                "status": "pending" if d.decision == "review" else "approved",
            }
            for d in decisions
        ]
        with self.engine.begin() as c:
            if rows:
                c.execute(sqlite_insert(decisions_t).on_conflict_do_nothing(), rows)
            stmt = sqlite_insert(stats_t).values(key="orders_seen", value=orders_seen)
            c.execute(
                stmt.on_conflict_do_update(index_elements=["key"], set_={"value": orders_seen})
            )
        return len(rows)

    def list(
        self, *, status: str | None = "pending", limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        q = sa.select(decisions_t).order_by(decisions_t.c.risk.desc(), decisions_t.c.ts)
        if status is not None:
            q = q.where(decisions_t.c.status == status)
        with self.engine.connect() as c:
            return [_row(r) for r in c.execute(q.limit(limit).offset(offset))]

    def get(self, *, refund_id: str) -> dict[str, Any]:
        q = sa.select(decisions_t).where(decisions_t.c.refund_id == refund_id)
        with self.engine.connect() as c:
            rows = [_row(r) for r in c.execute(q.order_by(decisions_t.c.ts))]
        if not rows:
            raise ReviewError(f"no refund {refund_id!r}")
        return rows[-1]

    def resolve(
        self, *, refund_id: str, verdict: str, actor: str, note: str = ""
    ) -> dict[str, Any]:
        """A reviewer approves or rejects a held refund; audited whether it applies or not."""
        target = f"refund:{refund_id}"
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict: must be approve or reject, not {verdict!r}")
        now = int(time.time() * 1000)
        with self.engine.begin() as c:
            res = c.execute(
                sa.update(decisions_t)
                .where(decisions_t.c.refund_id == refund_id, decisions_t.c.status == "pending")
                .values(
                    status=VERDICTS[verdict], reviewer=actor, reviewed_utc_ms=now, note=note or None
                )
            )
        if res.rowcount == 0:
            self.audit.record(
                AuditEvent(actor, f"refund.{verdict}", target, "failed", "not pending")
            )
            self.get(refund_id=refund_id)  # raises for an unknown refund
            raise ReviewError(f"refund {refund_id!r} is not waiting for review")
        self.audit.record(AuditEvent(actor, f"refund.{verdict}", target, "ok", note))
        return self.get(refund_id=refund_id)

    def summary(self) -> dict[str, Any]:
        """The big screen's figures: refund rate, auto-approved share, held amount."""
        t = decisions_t
        q = sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((t.c.decision == "approve", 1), else_=0)),
            sa.func.sum(sa.case((t.c.status == "pending", 1), else_=0)),
            sa.func.sum(sa.case((t.c.status == "pending", t.c.amount_minor), else_=0)),
            sa.func.sum(sa.case((t.c.status == "rejected", 1), else_=0)),
            sa.func.sum(sa.case((t.c.status == "approved_by_reviewer", 1), else_=0)),
        )
        with self.engine.connect() as c:
            n, auto, pending, held, rejected, released = c.execute(q).one()
            orders = c.execute(
                sa.select(stats_t.c.value).where(stats_t.c.key == "orders_seen")
            ).scalar()
        n = n or 0
        return {
            "refunds": n,
            "orders": orders or 0,
            "refund_rate": n / orders if orders else None,
            "auto_approved": auto or 0,
            "auto_approved_share": (auto or 0) / n if n else None,
            "pending": pending or 0,
            "held_amount_minor": held or 0,
            "rejected": rejected or 0,
            "approved_by_reviewer": released or 0,
        }


def _row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["reasons"] = json.loads(d["reasons"])
    d["signals"] = json.loads(d["signals"])
    return d
