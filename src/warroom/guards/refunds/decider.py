"""The decider: one decision per refund record, from the state built by the records before it.

Records are read in input order (orders, shipments and refunds; the rest is skipped), so
the decisions do not depend on how the stream is cut into batches.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal
from time import perf_counter_ns
from typing import Any

import polars as pl

from warroom.guards.refunds.links import LinkGraph
from warroom.guards.refunds.policy import Policy
from warroom.guards.refunds.signals import RefundFacts, gather, risk_of
from warroom.guards.refunds.state import BuyerBook

KIND_ORDER, KIND_REFUND, KIND_SHIPMENT = 0, 2, 3
COLUMNS = (
    "kind",
    "ts",
    "id",
    "order_id",
    "user_id",
    "merchant_id",
    "category",
    "status",
    "refund_id",
    "reason",
    "return_shipped",
    "device_id",
    "address_id",
    "value_base",
)
# a refund's fields, in `RefundFacts`' order
FACTS = (
    "refund_id",
    "id",
    "ts",
    "user_id",
    "order_id",
    "merchant_id",
    "reason",
    "return_shipped",
    "device_id",
    "address_id",
    "value_base",
)
SHOWN = 4  # reasons listed per decision


@dataclass(frozen=True, slots=True)
class Decision:
    refund_id: str
    ts: int
    decision: str  # approve | review
    risk: float
    reasons: list[str]
    event_id: str = ""
    user_id: str = ""
    order_id: str = ""
    merchant_id: str = ""
    category: str = ""
    amount_minor: int = 0
    signals: dict[str, float] = field(default_factory=dict)

    def output(self) -> dict[str, Any]:
        """The record of OUTPUTS.md."""
        return {
            "refund_id": self.refund_id,
            "ts": self.ts,
            "decision": self.decision,
            "risk": round(self.risk, 4),
            "reasons": self.reasons,
        }


class RefundGuard:
    def __init__(self, policy: Policy, base: str = "CNY", base_digits: int = 2) -> None:
        self.policy = policy
        self.base, self.digits = base, base_digits
        self.book = BuyerBook()
        self.graph = LinkGraph(policy.links)
        a = policy.auto_approve
        self._max = self._minor(a.max_amount)
        self._trusted_max = self._minor(a.trusted_max_amount)
        self._by_merchant = {k: self._minor(v) for k, v in a.merchants.items()}
        self._by_category = {k: self._minor(v) for k, v in a.categories.items()}
        self._review_merchants = frozenset(policy.review.merchants)
        self._review_categories = frozenset(policy.review.categories)
        self.timings: list[int] | None = None  # ns per decision, when a benchmark asks

    def process(self, records: pl.DataFrame | None) -> list[Decision]:
        """Fold a batch of decoded records in; the decisions of its refunds, in order.
        Orders and shipments between two refunds are taken in as one stretch
        (`BuyerBook.fold`); each refund is decided on the book as it stands at it."""
        if records is None or records.height == 0:
            return []
        rows = records.select(COLUMNS).filter(
            pl.col("kind").is_in([KIND_ORDER, KIND_REFUND, KIND_SHIPMENT])
        )
        kind = rows["kind"]
        is_order = kind == KIND_ORDER
        orders_at, ships_at, refunds = (
            is_k.arg_true().to_list()
            for is_k in (is_order, kind == KIND_SHIPMENT, kind == KIND_REFUND)
        )
        # every record's fields the book reads; a refund's own fields for refunds only
        folded = [rows[c].to_list() for c in ("ts", "order_id", "user_id", "category", "status")]
        users = folded[2]
        linked = rows["device_id"].null_count() + rows["address_id"].null_count() < 2 * len(kind)
        devices = rows["device_id"].to_list() if linked else []
        addresses = rows["address_id"].to_list() if linked else []
        refund_rows = rows[refunds].select(FACTS).iter_rows()
        book, graph = self.book, self.graph
        codes = book.orders.encode(rows["order_id"].filter(is_order))  # as `orders_at`
        out: list[Decision] = []
        o = s = 0  # the orders and shipments taken so far
        try:
            for end in [*refunds, rows.height]:
                o_end, s_end = bisect_left(orders_at, end, o), bisect_left(ships_at, end, s)
                book.fold(folded, orders_at[o:o_end], ships_at[s:s_end], codes[o:o_end])
                if linked:
                    for p in orders_at[o:o_end]:  # the accounts' shared devices and addresses
                        if devices[p] is not None or addresses[p] is not None:
                            graph.add(users[p], devices[p], addresses[p])
                o, s = o_end, s_end
                if end == rows.height:
                    break
                *fields, value = next(refund_rows)
                facts = RefundFacts(*fields, value or 0)
                if self.timings is None:
                    out.append(self.decide(facts))
                else:
                    t0 = perf_counter_ns()
                    out.append(self.decide(facts))
                    self.timings.append(perf_counter_ns() - t0)
        finally:  # ids coded ahead and not taken in (a refund failed) are let go
            book.orders.forget_uncommitted()
        return out

    def changes(self) -> dict[str, Any]:
        """What the book and the link graph changed since the last call (a checkpoint)."""
        return {"book": self.book.changes(), "graph": self.graph.changes()}

    def everything(self) -> dict[str, Any]:
        """The book and the graph whole, in the form of `changes()`."""
        return {"book": self.book.everything(), "graph": self.graph.everything()}

    def apply_changes(self, changes: dict[str, Any]) -> None:
        self.book.apply(changes["book"])
        self.graph.apply(changes["graph"])

    def decide(self, f: RefundFacts) -> Decision:
        """Decide one refund, then remember it."""
        self.graph.add(f.user, f.device, f.address)
        p = self.policy
        signals, refunding = gather(f, self.book, self.graph, p.signals)
        risk, parts = risk_of(signals, p.signals)
        credit = self._return_credit(f.user)
        if credit is not None:
            risk *= 1.0 - credit[0]
        order = self.book.orders.get(f.order_id)
        category = order.category if order is not None else ""
        rules = self._rules(f, category, refunding)
        review = bool(rules) or risk >= p.review.risk_at
        shown = [f"{s.text} (+{c:.2f})" for c, s in parts[:SHOWN] if c >= 0.01]
        if credit is not None:
            shown.append(credit[1])
        if risk >= p.review.risk_at:
            head = [f"risk {risk:.2f} at or above review at {p.review.risk_at:g}"]
        elif review:
            head = []
        elif shown:
            head = [f"risk {risk:.2f} below review at {p.review.risk_at:g}"]
        else:
            head = ["no abuse signal; within the auto-approve limit"]
        reasons = [*rules, *head, *shown]
        self.book.add_refund(f.user, f.ts, f.return_shipped is True)
        return Decision(
            refund_id=f.refund_id,
            ts=f.ts,
            decision="review" if review else "approve",
            risk=risk,
            reasons=reasons,
            event_id=f.event_id,
            user_id=f.user,
            order_id=f.order_id,
            merchant_id=f.merchant,
            category=category,
            amount_minor=f.amount_minor,
            signals={s.name: round(s.strength, 4) for s in signals},
        )

    def _rules(self, f: RefundFacts, category: str, refunding: int) -> list[str]:
        """The policy's hard rules that send a refund to review, in words."""
        out = []
        if f.merchant in self._review_merchants:
            out.append(f"merchant {f.merchant} is on the review list")
        if category in self._review_categories:
            out.append(f"category {category} is on the review list")
        limits = []  # a merchant's or category's own limit wins over the general ones
        if (m := self._by_merchant.get(f.merchant)) is not None:
            limits.append((m, f"merchant {f.merchant}"))
        if (c := self._by_category.get(category)) is not None:
            limits.append((c, f"category {category}"))
        if limits:
            limit, which = min(limits)
        elif self._trusted(f.user, refunding):
            limit, which = self._trusted_max, "a trusted buyer"
        else:
            limit, which = self._max, "a refund"
        if f.amount_minor > limit:
            out.append(
                f"amount {self.money(f.amount_minor)} above the auto-approve limit "
                f"{self.money(limit)} for {which}"
            )
        return out

    def _return_credit(self, user: str) -> tuple[float, str] | None:
        """Credit for a history of sending goods back (honest heavy returners)."""
        p = self.policy.signals
        b = self.book.buyers.get(user)
        if b is None or b.refunds < p.return_credit_min_refunds or not b.returned:
            return None
        share = p.return_credit * b.returned / b.refunds
        text = f"sent the goods back in {b.returned} of {b.refunds} earlier refunds"
        return share, f"{text} (x{1 - share:.2f})"

    def _trusted(self, user: str, refunding: int) -> bool:
        a = self.policy.auto_approve
        b = self.book.buyers.get(user)
        if b is None or refunding or b.orders < a.trusted_min_orders:
            return False
        return b.refunds / b.orders <= a.trusted_max_refund_ratio

    def _minor(self, major: Decimal) -> int:
        return int(major.scaleb(self.digits).to_integral_value())

    def money(self, minor: int) -> str:
        q = Decimal(minor).scaleb(-self.digits)
        return f"{q:,.{self.digits}f} {self.base}"
