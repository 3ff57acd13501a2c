"""Abuse signals of one refund, each a strength in 0..1 with words a reviewer understands.

The risk is a noisy-OR of the weighted strengths, 1 - prod(1 - w_i * s_i): each signal
alone can raise it by at most its weight, and independent evidence adds up.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.guards.refunds.links import DEVICE, LinkGraph
from warroom.guards.refunds.policy import Signals
from warroom.guards.refunds.state import BuyerBook

HOUR, MINUTE = 3_600_000, 60_000
# reasons about the goods themselves: a person would send them back
GOODS_REASONS = frozenset({"not_as_described", "wrong_size", "wrong_color", "damaged"})
RETURNABLE = GOODS_REASONS | {"changed_mind"}


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    strength: float  # 0..1
    text: str


@dataclass(frozen=True, slots=True)
class RefundFacts:
    """The fields of a refund record the guard reads."""

    refund_id: str
    event_id: str
    ts: int
    user: str
    order_id: str
    merchant: str
    reason: str
    return_shipped: bool | None
    device: str | None
    address: str | None
    amount_minor: int  # base currency


def gather(
    f: RefundFacts, book: BuyerBook, graph: LinkGraph, p: Signals
) -> tuple[list[Signal], int]:
    """The signals that fire (strength > 0) and how many linked accounts asked refunds."""
    out: list[Signal] = []
    order = book.orders.get(f.order_id)
    if order is None:
        out.append(Signal("unknown_order", 1.0, f"order {f.order_id} was not seen in the stream"))
    elif not order.shipped:
        if f.reason == "not_received":
            out.append(
                Signal("not_received_unshipped", 1.0, "claims not received, yet never shipped")
            )
        elif f.reason in GOODS_REASONS:
            out.append(Signal("unshipped", 1.0, f"says {f.reason} before the order shipped"))
    if f.reason in RETURNABLE and f.return_shipped is False:
        out.append(Signal("no_return", 1.0, f"{f.reason} but nothing sent back"))
    if order is not None and p.fast_refund_minutes > 0:
        dt = f.ts - order.ts
        fast = p.fast_refund_minutes * MINUTE
        if dt < fast:
            out.append(
                Signal(
                    "fast_refund",
                    1.0 - max(dt, 0) / fast,
                    f"asked {max(dt, 0) / MINUTE:.1f} min after ordering",
                )
            )
    buyer = book.buyers.get(f.user)
    window = p.window_hours * HOUR
    if buyer is not None:
        n = 1 + sum(1 for t in buyer.recent if t >= f.ts - window)
        # refunds beyond one in five of the buyer's orders: a big buyer refunds more often
        excess = n - 1 - 0.2 * buyer.orders
        if excess > 0:
            out.append(
                Signal(
                    "velocity",
                    min(1.0, excess / (p.velocity_full - 1)),
                    f"{n} refunds in {p.window_hours:g} h over {buyer.orders} orders",
                )
            )
        m = p.ratio_prior_orders
        ratio = (buyer.refunds + 1 + p.ratio_prior_rate * m) / (buyer.orders + m)
        if ratio > 0.25:
            out.append(
                Signal(
                    "refund_ratio",
                    min(1.0, (ratio - 0.25) / 0.5),
                    f"refunds {buyer.refunds + 1} of {buyer.orders} orders",
                )
            )
        if f.ts - buyer.first_ts < p.new_account_hours * HOUR:
            age = (f.ts - buyer.first_ts) / HOUR
            out.append(Signal("new_account", 1.0, f"account first seen {age:.1f} h ago"))
    tie, via = graph.component(f.user)
    refunding = 0
    if len(tie) > 1:
        # each linked account counts by the strength of its tie (a household address: 0.5)
        linked = sum(w for u, w in tie.items() if u != f.user)
        shared = ", ".join(("device " if k[0] == DEVICE else "address ") + k[1] for k in via[:3])
        out.append(
            Signal(
                "linked_accounts",
                min(1.0, linked / p.links_full),
                f"linked to {len(tie) - 1} other accounts through {shared}",
            )
        )
        since, weighted = f.ts - window, 0.0
        for u, w in tie.items():
            b = book.buyers.get(u) if u != f.user else None
            if b is not None and b.last_refund_ts is not None and b.last_refund_ts >= since:
                refunding += 1
                weighted += w
        if refunding:
            out.append(
                Signal(
                    "ring_refunds",
                    min(1.0, weighted / p.ring_full),
                    f"{refunding} linked account{'s' if refunding > 1 else ''} asked refunds "
                    f"in {p.window_hours:g} h "
                    "(ordering and refunding together)",
                )
            )
    return out, refunding


def risk_of(signals: list[Signal], p: Signals) -> tuple[float, list[tuple[float, Signal]]]:
    """The noisy-OR risk and each signal's contribution, largest first."""
    keep = 1.0
    parts = []
    for s in signals:
        c = p.weight(s.name) * s.strength
        keep *= 1.0 - c
        parts.append((c, s))
    parts.sort(key=lambda cs: (-cs[0], cs[1].name))
    return 1.0 - keep, parts
