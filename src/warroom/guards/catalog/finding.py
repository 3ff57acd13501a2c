"""A finding: SKUs hit by one actor's faulty changes, its blast radius, its alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from warroom.alerts.model import Alert, Severity, alert_id

KINDS = ("sku_scramble", "price_error")
WRONG_VARIANT = ("wrong_color", "wrong_size")


@dataclass
class SkuHit:
    merchant: str
    item: str
    since: int  # event time of the SKU's first faulty change
    reasons: list[str]
    restore: dict[str, Any]  # the snapshot's values: attrs, price (major, text), currency
    current: dict[str, Any]  # the values the change left
    restored: bool = False


@dataclass
class OrderLine:
    order: str
    sku: str
    merchant: str
    ts: int
    quantity: int
    value_base: int  # base minor units
    shows_new: bool  # the buyer saw the faulty attributes


@dataclass
class Finding:
    kind: str
    actor: str
    first_change: int
    fired: int = -1
    resolved: int = -1
    mass: bool = False
    skus: dict[str, SkuHit] = field(default_factory=dict)
    lines: dict[int, OrderLine] = field(default_factory=dict)  # input position -> line
    shipped: dict[str, str] = field(default_factory=dict)  # order -> latest status
    refunds: dict[str, str] = field(default_factory=dict)  # order -> refund reason
    before: set[int] = field(default_factory=set)  # order lines just before the change
    last_added: int = 0
    dirty: bool = True  # changed since it was last persisted

    @property
    def id(self) -> str:
        return alert_id(
            "sku_changes", {"kind": self.kind, "actor": self.actor}, "change", self.first_change
        )

    # -- blast radius ------------------------------------------------------------
    def merchants(self) -> list[str]:
        return sorted({h.merchant for h in self.skus.values()})

    def orders(self, upto: int | None = None) -> list[str]:
        """Orders on the SKUs since their change (up to event time `upto`, if given)."""
        return sorted({ln.order for ln in self.lines.values() if upto is None or ln.ts <= upto})

    def split(self, upto: int | None = None) -> tuple[list[str], list[str]]:
        """Orders (shipped, not shipped)."""
        orders = self.orders(upto)
        return [o for o in orders if o in self.shipped], [
            o for o in orders if o not in self.shipped
        ]

    def gmv_at_risk(self, shipped: bool | None = None, upto: int | None = None) -> int:
        return sum(
            line.value_base
            for line in self.lines.values()
            if (shipped is None or (line.order in self.shipped) == shipped)
            and (upto is None or line.ts <= upto)
        )

    def corroboration(self) -> dict[str, int]:
        return {
            "order_lines_since": len(self.lines),
            "order_lines_before": len(self.before),  # in the 10 s before the change
            "orders_showing_new_attrs": len(
                {ln.order for ln in self.lines.values() if ln.shows_new}
            ),
            "wrong_variant_refunds": sum(r in WRONG_VARIANT for r in self.refunds.values()),
            "refunds": len(self.refunds),
        }

    # -- the alert ---------------------------------------------------------------
    def severity(self) -> Severity:
        if self.mass or len(self.merchants()) >= 5:
            return "critical"
        if self.kind == "price_error" and any(
            "currency_switch" in h.reasons or "below_snapshot" in h.reasons
            for h in self.skus.values()
        ):
            return "critical"
        return "warning"

    def score(self) -> float:
        reasons = {r for h in self.skus.values() for r in h.reasons}
        base = 0.9 if reasons & {"collision", "remap", "below_snapshot", "currency_switch"} else 0.7
        if self.mass:
            base += 0.05
        if self.corroboration()["wrong_variant_refunds"]:
            base += 0.05
        return round(min(1.0, base), 2)

    def alert(self, base_digits: int, state: str | None = None) -> Alert:
        """The alert record. Asked for `state="firing"` (the record written when it
        fires), it lists the orders placed up to its firing; otherwise all so far."""
        merchants = self.merchants()
        scope = {"merchant": merchants[0]} if len(merchants) == 1 else {}
        upto = self.fired if state == "firing" else None
        state = state or ("resolved" if self.resolved >= 0 else "firing")
        return Alert(
            id=self.id,
            state=state,
            ts=self.resolved if state == "resolved" else self.fired,
            source="catalog",
            metric="sku_changes",
            scope=scope,
            direction="change",
            observed=float(sum(not h.restored for h in self.skus.values())),
            expected=0.0,
            score=self.score(),
            severity=self.severity(),
            summary=self.summary(base_digits, upto),
            entities={
                "merchants": merchants,
                "skus": sorted(self.skus),
                "orders": self.orders(upto),
            },
        )

    def summary(self, base_digits: int, upto: int | None = None) -> str:
        what = "SKU attributes scrambled" if self.kind == "sku_scramble" else "price error"
        items = len({h.item for h in self.skus.values()})
        shipped, waiting = self.split(upto)
        gmv = Decimal(self.gmv_at_risk(upto=upto)).scaleb(-base_digits)
        text = (
            f"{what} by {self.actor}: {len(self.skus)} SKUs of {items} items at "
            f"{len(self.merchants())} merchants; {len(shipped) + len(waiting)} orders since "
            f"({len(shipped)} shipped, {len(waiting)} not), GMV at risk {gmv}"
        )
        if self.kind == "price_error":
            since = sum(upto is None or ln.ts <= upto for ln in self.lines.values())
            text += (
                f"; {since} order lines since the change vs {len(self.before)} in the 10 s before"
            )
        if self.mass:
            text += "; mass change across merchants"
        refunds = self.corroboration()["wrong_variant_refunds"]
        if refunds:
            text += f"; {refunds} wrong colour/size refunds"
        return text
