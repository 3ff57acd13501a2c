"""Notify merchants in bulk through an outbox: one row per merchant with its delivery state.

apply only writes the outbox; `deliver_due` (a flow, run by a loop or a test) sends
what is due through a sender and retries with backoff. A merchant's operator
acknowledges through the API (`acknowledge`). Undo cancels what was not yet sent: a
delivered message cannot be called back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from warroom.command.actions.base import ActionContext, ActionSpec, Touch, touch
from warroom.command.errors import InvalidTransition, NotFound
from warroom.command.orders import Scope
from warroom.command.tables import outbox_t

PENDING, SENT, FAILED, ACKED, CANCELLED = "pending", "sent", "failed", "acked", "cancelled"
# A sender raises on failure; an exception with `retryable = False` is not retried
# (the Alertmanager rule: 4xx is final, 5xx and time-outs retry).
Sender = Callable[[str, str], None]


def outbox(engine: sa.Engine, *, ref: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(outbox_t).order_by(outbox_t.c.id)
    if ref is not None:
        q = q.where(outbox_t.c.ref == ref)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q)]


def deliver_due(
    engine: sa.Engine,
    *,
    send: Sender,
    now_ms: int,
    max_attempts: int = 5,
    backoff_ms: int = 2_000,
) -> dict[str, int]:
    """Send every pending message that is due; counts of sent, retried and failed."""
    q = sa.select(outbox_t).where(outbox_t.c.state == PENDING, outbox_t.c.next_attempt_ms <= now_ms)
    with engine.connect() as c:
        due = [dict(r._mapping) for r in c.execute(q.order_by(outbox_t.c.id))]
    counts = {"sent": 0, "retried": 0, "failed": 0}
    for row in due:
        attempts = row["attempts"] + 1
        values: dict[str, Any] = {"attempts": attempts}
        try:
            send(row["merchant_id"], row["message"])
            values["state"] = SENT
            counts["sent"] += 1
        except Exception as exc:  # the sender's failure is data here, not a crash
            values["last_error"] = str(exc)[:500]
            if getattr(exc, "retryable", True) and attempts < max_attempts:
                values["next_attempt_ms"] = now_ms + backoff_ms * 2 ** (attempts - 1)
                counts["retried"] += 1
            else:
                values["state"] = FAILED
                counts["failed"] += 1
        with engine.begin() as c:
            c.execute(sa.update(outbox_t).where(outbox_t.c.id == row["id"]).values(**values))
    return counts


def acknowledge(engine: sa.Engine, *, outbox_id: int, by: str, now_ms: int) -> dict[str, Any]:
    """The merchant's operator confirms they read it."""
    with engine.begin() as c:
        row = c.execute(sa.select(outbox_t).where(outbox_t.c.id == outbox_id)).first()
        if row is None:
            raise NotFound(f"no merchant notice {outbox_id}")
        if row.state not in (SENT, ACKED):
            raise InvalidTransition(f"notice {outbox_id} is {row.state}, not sent")
        if row.state == SENT:
            c.execute(
                sa.update(outbox_t)
                .where(outbox_t.c.id == outbox_id)
                .values(state=ACKED, acked_by=by, acked_ms=now_ms)
            )
    with engine.connect() as c:
        return dict(c.execute(sa.select(outbox_t).where(outbox_t.c.id == outbox_id)).one()._mapping)


class NotifyMerchants:
    spec = ActionSpec(
        "notify_merchants",
        "notify every merchant in the scope",
        required=("message",),
        scope=("merchants", "skus", "regions", "campaigns", "orders"),
    )

    def dry_run(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any]) -> Touch:
        return touch(self.spec.name, merchants=ctx.orders.merchants_in(scope))

    def apply(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any], ref: str) -> Touch:
        merchants = ctx.orders.merchants_in(scope)
        now = ctx.clock.now_ms()
        rows = [
            {
                "ref": ref,
                "merchant_id": m,
                "message": str(args["message"]),
                "state": PENDING,
                "attempts": 0,
                "next_attempt_ms": now,
                "last_error": "",
            }
            for m in merchants
        ]
        if rows:
            with ctx.engine.begin() as c:
                c.execute(sa.insert(outbox_t), rows)
        return touch(self.spec.name, merchants=merchants)

    def undo(self, ctx: ActionContext, *, ref: str, applied: Touch) -> Touch:
        where = (outbox_t.c.ref == ref, outbox_t.c.state == PENDING)
        with ctx.engine.begin() as c:
            cancelled = sorted(c.execute(sa.select(outbox_t.c.merchant_id).where(*where)).scalars())
            c.execute(sa.update(outbox_t).where(*where).values(state=CANCELLED))
        return touch("cancel_notices", merchants=cancelled)
