"""Notify merchants in bulk through an outbox: one row per merchant with its delivery state.

apply only writes the outbox; `deliver_due` (run every second by the server's delivery
loop, `command/ticker.py`, or by a test) sends what is due through a sender
(`command/delivery.py`: an HTTP POST to the merchant's endpoint) and retries with
backoff. A merchant's operator acknowledges through the API with a token scoped to
that merchant (role `merchant`: its own notices only); staff with `acknowledge` may ack
on a merchant's behalf (the phone call). Undo cancels what was not yet sent: a
delivered message cannot be called back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from warroom.command.actions.base import ActionContext, ActionSpec, Touch, touch
from warroom.command.errors import Forbidden, InvalidTransition, NotFound
from warroom.command.orders import Scope
from warroom.command.tables import outbox_t

PENDING, SENT, FAILED, ACKED, CANCELLED = "pending", "sent", "failed", "acked", "cancelled"
# A sender raises on failure; an exception with `retryable = False` is not retried
# (the Alertmanager rule: 4xx is final, 5xx and time-outs retry).


@dataclass(frozen=True)
class Notice:
    """What a sender gets: enough for the merchant to read it and acknowledge it by id."""

    id: int
    ref: str
    merchant_id: str
    message: str
    attempt: int  # 1 for the first try


Sender = Callable[[Notice], None]


def outbox(
    engine: sa.Engine,
    *,
    ref: str | None = None,
    merchant_id: str | None = None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    q = sa.select(outbox_t).order_by(outbox_t.c.id)
    if ref is not None:
        q = q.where(outbox_t.c.ref == ref)
    if merchant_id is not None:
        q = q.where(outbox_t.c.merchant_id == merchant_id)
    if state is not None:
        q = q.where(outbox_t.c.state == state)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q)]


def deliver_due(
    engine: sa.Engine,
    *,
    send: Sender,
    now_ms: int,
    max_attempts: int = 5,
    backoff_ms: int = 2_000,
    limit: int = 500,
    stop: Callable[[], bool] = lambda: False,
    outcomes: list[tuple[Notice, str, str]] | None = None,
) -> dict[str, int]:
    """Send every pending message that is due (oldest first, at most `limit`, so one
    round stays short; `stop` ends a round early at shutdown); counts of sent, retried
    and failed. `outcomes` collects (notice, sent|retried|failed, error) of each."""
    q = sa.select(outbox_t).where(outbox_t.c.state == PENDING, outbox_t.c.next_attempt_ms <= now_ms)
    with engine.connect() as c:
        due = [dict(r._mapping) for r in c.execute(q.order_by(outbox_t.c.id).limit(limit))]
    counts = {"sent": 0, "retried": 0, "failed": 0}
    for row in due:
        if stop():
            break
        attempts = row["attempts"] + 1
        values: dict[str, Any] = {"attempts": attempts}
        notice = Notice(row["id"], row["ref"], row["merchant_id"], row["message"], attempts)
        try:
            send(notice)
            values["state"], outcome = SENT, "sent"
        except Exception as exc:  # the sender's failure is data here, not a crash
            values["last_error"] = str(exc)[:500]
            if getattr(exc, "retryable", True) and attempts < max_attempts:
                values["next_attempt_ms"] = now_ms + backoff_ms * 2 ** (attempts - 1)
                outcome = "retried"
            else:
                values["state"], outcome = FAILED, "failed"
        # only if still pending: an undo may have cancelled it while it was on the wire
        still = (outbox_t.c.id == row["id"], outbox_t.c.state == PENDING)
        with engine.begin() as c:
            if c.execute(sa.update(outbox_t).where(*still).values(**values)).rowcount == 1:
                counts[outcome] += 1
                if outcomes is not None:
                    outcomes.append((notice, outcome, values.get("last_error", "")))
    return counts


def by_merchant(engine: sa.Engine) -> list[dict[str, Any]]:
    """Per merchant: notices in each state, and the newest notice's state and error."""
    with engine.connect() as c:
        rows = c.execute(sa.select(outbox_t).order_by(outbox_t.c.id)).all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = out.setdefault(
            r.merchant_id,
            {
                "merchant_id": r.merchant_id,
                **{s: 0 for s in (PENDING, SENT, FAILED, ACKED, CANCELLED)},
            },
        )
        m[r.state] = m.get(r.state, 0) + 1
        m["latest"] = {
            "id": r.id,
            "ref": r.ref,
            "state": r.state,
            "attempts": r.attempts,
            "next_attempt_ms": r.next_attempt_ms,
            "last_error": r.last_error,
        }
    return sorted(out.values(), key=lambda m: m["merchant_id"])


def owner_of(engine: sa.Engine, outbox_id: int) -> str | None:
    """The merchant a notice is addressed to (None: no such notice)."""
    with engine.connect() as c:
        q = sa.select(outbox_t.c.merchant_id).where(outbox_t.c.id == outbox_id)
        return c.execute(q).scalar_one_or_none()


def acknowledge(
    engine: sa.Engine, *, outbox_id: int, by: str, now_ms: int, merchant_id: str | None = None
) -> dict[str, Any]:
    """The merchant's operator confirms they read it. `merchant_id`: the caller acts
    for this merchant only (a merchant token), so another merchant's notice is
    Forbidden; None is staff acknowledging on the merchant's behalf."""
    with engine.begin() as c:
        row = c.execute(sa.select(outbox_t).where(outbox_t.c.id == outbox_id)).first()
        if row is None:
            raise NotFound(f"no merchant notice {outbox_id}")
        if merchant_id is not None and row.merchant_id != merchant_id:
            # the message does not name the owner: one merchant learns nothing of another
            raise Forbidden(f"notice {outbox_id} is not addressed to merchant {merchant_id}")
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
        rows = [
            {
                "ref": ref,
                "merchant_id": m,
                "message": str(args["message"]),
                "state": PENDING,
                "attempts": 0,
                # due at once on whatever clock delivers it (the wall, in the server)
                "next_attempt_ms": 0,
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
