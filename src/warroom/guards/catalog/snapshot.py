"""The catalog snapshot (the pre-event freeze) and the catalog state with changes applied.

State is an overlay on the snapshot: only SKUs that changed are held twice, so a
catalog of millions of SKUs with thousands of changes costs little more than the
snapshot itself.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from warroom.contract.rates import RatesTable
from warroom.errors import WarroomError

Attrs = dict[str, str]


class CatalogError(WarroomError):
    """The catalog snapshot or a restore input cannot be read."""


@dataclass(frozen=True, slots=True)
class Sku:
    merchant: str
    item: str
    category: str
    attrs: Attrs
    price: int | None  # minor units of `currency`
    currency: str | None


@dataclass
class Snapshot:
    skus: dict[str, Sku]
    items: dict[str, list[str]]  # item -> its SKUs, in snapshot order
    rates: RatesTable
    category_norm: dict[str, float] = field(default_factory=dict)  # median base price

    def base_price(self, price: int | None, currency: str | None) -> float | None:
        """A price in base-currency major units (a float: for thresholds, never totals)."""
        if price is None or currency is None or currency not in self.rates.rates:
            return None
        rate = self.rates.rates[currency]
        return price * rate.num / 10 ** (rate.digits + rate.scale)

    @classmethod
    def load(cls, path: Path, rates: RatesTable) -> Snapshot:
        skus: dict[str, Sku] = {}
        items: dict[str, list[str]] = {}
        variants: dict[tuple, Attrs] = {}
        with path.open("rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    doc = json.loads(raw, parse_float=Decimal)
                    sku = _sku(doc, rates, variants)
                    sku_id = str(doc["sku_id"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise CatalogError(f"{path}:{line_no}: not a catalog line ({exc})") from exc
                skus[sku_id] = sku
                items.setdefault(sku.item, []).append(sku_id)
        return cls.build(skus, items, rates)

    @classmethod
    def build(
        cls, skus: dict[str, Sku], items: dict[str, list[str]], rates: RatesTable
    ) -> Snapshot:
        snap = cls(skus, items, rates)
        by_cat: dict[str, list[float]] = {}
        for sku in skus.values():
            base = snap.base_price(sku.price, sku.currency)
            if base is not None:
                by_cat.setdefault(sku.category, []).append(base)
        snap.category_norm = {c: statistics.median(v) for c, v in by_cat.items()}
        return snap


def _sku(doc: dict[str, Any], rates: RatesTable, variants: dict[tuple, Attrs]) -> Sku:
    """One snapshot line. Variants repeat across a catalog ({"color": "red", "size": "M"}
    thousands of times): one shared, never mutated dict per distinct variant keeps the
    snapshot at ~300 bytes a SKU."""
    currency = doc.get("currency")
    price = to_minor(doc.get("price"), currency, rates)
    key = tuple(sorted((str(k), str(v)) for k, v in (doc.get("attrs") or {}).items()))
    attrs = variants.setdefault(key, dict(key))
    return Sku(
        sys.intern(str(doc["merchant_id"])),
        sys.intern(str(doc["item_id"])),
        sys.intern(str(doc.get("category", ""))),
        attrs,
        price,
        sys.intern(currency) if isinstance(currency, str) else None,
    )


def to_minor(price: Any, currency: str | None, rates: RatesTable) -> int | None:
    if price is None or currency is None:
        return None
    digits = rates.digits(currency)
    if digits is None:
        digits = 2  # an unknown code still gets compared; the decoder quarantines records
    return int((Decimal(str(price)) * 10**digits).to_integral_value())


def major(price: int, currency: str, rates: RatesTable) -> Decimal:
    digits = rates.digits(currency)
    return Decimal(price).scaleb(-(2 if digits is None else digits))


class CatalogState:
    """The snapshot with the `sku_change` stream applied, change by change."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snap = snapshot
        self.attrs: dict[str, Attrs] = {}  # changed SKUs only
        self.price: dict[str, tuple[int | None, str | None]] = {}
        self.new: dict[str, Sku] = {}  # SKUs the snapshot lacks
        self.new_items: dict[str, list[str]] = {}

    def info(self, sku: str) -> Sku | None:
        return self.snap.skus.get(sku) or self.new.get(sku)

    def current_attrs(self, sku: str) -> Attrs:
        got = self.attrs.get(sku)
        if got is not None:
            return got
        info = self.info(sku)
        return info.attrs if info is not None else {}

    def current_price(self, sku: str) -> tuple[int | None, str | None]:
        got = self.price.get(sku)
        if got is not None:
            return got
        info = self.info(sku)
        return (info.price, info.currency) if info is not None else (None, None)

    def item_skus(self, item: str) -> list[str]:
        return self.snap.items.get(item, []) + self.new_items.get(item, [])

    def apply(self, change: dict[str, Any]) -> tuple[bool, bool]:
        """Apply one parsed sku_change; returns (attributes changed, price changed)."""
        sku = str(change["sku_id"])
        after = change.get("after") or {}
        if self.info(sku) is None:
            item = str(change.get("item_id", ""))
            cat = self._category_of(item)
            self.new[sku] = Sku(str(change.get("merchant_id", "")), item, cat, {}, None, None)
            self.new_items.setdefault(item, []).append(sku)
        attrs_changed = price_changed = False
        new_attrs = after.get("attrs")
        before = change.get("before") or {}
        # a change's intent is what differs between its before and after: a price sync
        # that repeats stale attributes must not undo an attribute change made since
        if isinstance(new_attrs, dict) and new_attrs != before.get("attrs"):
            new_attrs = {str(k): str(v) for k, v in new_attrs.items()}
            if new_attrs != self.current_attrs(sku):
                self.attrs[sku] = new_attrs
                attrs_changed = True
        if "price" in after or "currency" in after:
            old_price, old_cur = self.current_price(sku)
            cur = after.get("currency", old_cur)
            price = (
                to_minor(after["price"], cur, self.snap.rates) if "price" in after else old_price
            )
            if (price, cur) != (old_price, old_cur):
                self.price[sku] = (price, cur)
                price_changed = True
        return attrs_changed, price_changed

    def _category_of(self, item: str) -> str:
        skus = self.snap.items.get(item)
        return self.snap.skus[skus[0]].category if skus else ""
