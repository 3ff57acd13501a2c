"""What-if comparison and evaluation scoring, on decisions made by the guard."""

from __future__ import annotations

from test_refunds_decider import decode, ring_stream
from warroom.guards.refunds.decider import RefundGuard
from warroom.guards.refunds.evaluate import score
from warroom.guards.refunds.policy import load_policy, parse_policy
from warroom.guards.refunds.replay import compare


def decisions(policy_text: str | None = None):
    policy = parse_policy(policy_text, "p.yaml") if policy_text else load_policy()
    return RefundGuard(policy).process(decode(ring_stream()))


def test_compare_counts_money_and_the_buyers_who_move():
    old, new = decisions(), decisions("review: {risk_at: 0.99}")
    w = compare(old, new)
    held_before = [d for d in old if d.decision == "review"]
    assert w.old.review == len(held_before) and w.new.review == 0
    assert w.old.approve + w.old.review == w.new.approve == len(old)
    assert w.old.held_minor == sum(d.amount_minor for d in held_before) == 8 * 10_000
    assert w.new.approved_minor == w.old.approved_minor + w.old.held_minor
    assert w.changed == len(held_before)
    assert {m.user_id for m in w.movers} == {d.user_id for d in held_before}
    assert all(m.to_approve == 1 and m.to_review == 0 for m in w.movers)
    assert compare(old, old).changed == 0


def test_score_against_labels_and_hard_cases():
    got = decisions()
    ring_users = sorted({d.user_id for d in got if d.user_id.startswith("u-r")})
    labels = [{"kind": "refund_abuse", "entities": {"users": ring_users}}]
    hard = {"heavy_returners": {"users": ["u-h0"]}, "shared_addresses": {"a": ["u-h4"]}}
    s = score("t", got, labels, hard)
    assert s.honest_refunds == 5 and s.honest_approved_share == 1.0
    assert s.returner_refunds == 1 and s.shared_address_refunds == 1
    assert s.ring_buyers == 8 and s.held_buyers == 8
    assert s.precision == 1.0 and s.recall == 1.0
    wider = [{"kind": "refund_abuse", "entities": {"users": [*ring_users, "u-h0"]}}]
    assert score("t", got, wider, hard).recall == 8 / 9  # u-h0 asked, was approved
    # a label naming an honest buyer as abusive: that buyer is missed, not held
    s2 = score("t", got, [{"kind": "refund_abuse", "entities": {"users": ["u-h0"]}}], {})
    assert s2.recall == 0.0 and s2.precision == 0.0
