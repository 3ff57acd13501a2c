"""The review queue in the store: decisions kept once, verdicts applied once and audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from test_refunds_decider import decode, ring_stream
from warroom.audit import AuditLog
from warroom.guards.refunds.decider import RefundGuard
from warroom.guards.refunds.errors import ReviewError
from warroom.guards.refunds.policy import load_policy
from warroom.guards.refunds.queue import ReviewQueue


@pytest.fixture
def queue(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    q = ReviewQueue(engine)
    guard = RefundGuard(load_policy())
    decisions = guard.process(decode(ring_stream()))
    q.record(decisions, policy="default", orders_seen=len(guard.book.orders))
    q.record(decisions, policy="default", orders_seen=len(guard.book.orders))  # a resume
    return q, decisions


def test_decisions_are_stored_once_and_held_ones_wait(queue):
    q, decisions = queue
    held = [d for d in decisions if d.decision == "review"]
    pending = q.list(status="pending", limit=1000)
    assert {r["refund_id"] for r in pending} == {d.refund_id for d in held}
    assert [r["risk"] for r in pending] == sorted((r["risk"] for r in pending), reverse=True)
    assert pending[0]["reasons"] and isinstance(pending[0]["signals"], dict)
    s = q.summary()
    assert s["refunds"] == len(decisions) and s["orders"] == 28
    assert s["pending"] == len(held)
    assert s["held_amount_minor"] == sum(d.amount_minor for d in held)
    assert s["auto_approved_share"] == pytest.approx(1 - len(held) / len(decisions))
    assert s["refund_rate"] == pytest.approx(len(decisions) / 28)


def test_a_verdict_applies_once_and_every_attempt_is_audited(queue):
    q, decisions = queue
    rid = next(d.refund_id for d in decisions if d.decision == "review")
    row = q.resolve(refund_id=rid, verdict="reject", actor="token:ab(commander)", note="ring")
    assert row["status"] == "rejected" and row["reviewer"] == "token:ab(commander)"
    with pytest.raises(ReviewError, match="not waiting for review"):
        q.resolve(refund_id=rid, verdict="approve", actor="token:cd(admin)")
    with pytest.raises(ReviewError, match="no refund 'r-none'"):
        q.resolve(refund_id="r-none", verdict="approve", actor="token:cd(admin)")
    with pytest.raises(ReviewError, match="verdict: must be approve or reject"):
        q.resolve(refund_id=rid, verdict="maybe", actor="x")
    audit = AuditLog(q.engine).recent()
    assert [(a["action"], a["target"], a["result"]) for a in audit[:3]] == [
        ("refund.approve", "refund:r-none", "failed"),
        ("refund.approve", f"refund:{rid}", "failed"),
        ("refund.reject", f"refund:{rid}", "ok"),
    ]
    assert q.summary()["rejected"] == 1
