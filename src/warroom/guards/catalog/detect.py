"""The two checks: an item's variants after a change (scramble), a SKU's price (error).

Both compare the applied state with the snapshot, never with the previous change, so
a change that restores the snapshot clears its SKU and a chain of small edits is judged
by where it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.guards.catalog.snapshot import Attrs, CatalogState

# Reasons a SKU's attributes are wrong, strongest first.
COLLISION = "collision"  # two SKUs of the item now carry the same variant
REMAP = "remap"  # a value moved to another of the item's own values: a permutation
STRAY = "stray"  # a value outside the item's dictionary, not a consistent rename


def item_verdict(state: CatalogState, item: str) -> dict[str, list[str]]:
    """SKU -> reasons, for the item's SKUs whose attributes are wrong.

    Harmless: a rename applied consistently (every SKU with the old value now has the
    same new value, the new value was not the item's, distinct old values stay
    distinct). Harmful: remaps within the item's dictionary, collisions, and values
    outside the dictionary that are not such a rename.
    """
    skus = state.item_skus(item)
    snap = state.snap.skus
    old: dict[str, Attrs] = {s: snap[s].attrs for s in skus if s in snap}
    cur: dict[str, Attrs] = {s: state.current_attrs(s) for s in skus}
    changed = [s for s in old if cur[s] != old[s]]
    reasons: dict[str, set[str]] = {}
    keys = {k for a in old.values() for k in a} | {k for s in changed for k in cur[s]}
    for key in keys:
        _check_key(key, old, cur, changed, reasons)
    seen: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for s in skus:
        seen.setdefault(tuple(sorted(cur[s].items())), []).append(s)
    for group in seen.values():
        if len(group) > 1:
            for s in group:
                if s not in old or cur[s] != old[s]:
                    reasons.setdefault(s, set()).add(COLLISION)
    return {s: sorted(r) for s, r in reasons.items()}


def _check_key(
    key: str,
    old: dict[str, Attrs],
    cur: dict[str, Attrs],
    changed: list[str],
    reasons: dict[str, set[str]],
) -> None:
    dictionary = {a.get(key) for a in old.values()}
    renamed: dict[str | None, set[str | None]] = {}
    for s in changed:
        before, after = old[s].get(key), cur[s].get(key)
        if before == after:
            continue
        if after in dictionary:
            reasons.setdefault(s, set()).add(REMAP)
        else:
            renamed.setdefault(before, set()).add(after)
    if not renamed:
        return
    targets: list[str | None] = []
    for before, afters in renamed.items():
        holders = [s for s in old if old[s].get(key) == before]
        if len(afters) == 1 and all(cur[s].get(key) in afters for s in holders):
            targets.append(next(iter(afters)))
        else:  # part of the SKUs, or several new names for one old value
            for s in holders:
                if cur[s].get(key) != before and cur[s].get(key) not in dictionary:
                    reasons.setdefault(s, set()).add(STRAY)
    if len(set(targets)) < len(targets):  # two old values merged into one new name
        for s in changed:
            if old[s].get(key) in renamed and cur[s].get(key) not in dictionary:
                reasons.setdefault(s, set()).add(STRAY)


@dataclass(frozen=True)
class PriceRule:
    below_snapshot: float = 0.5  # new base price under this share of the snapshot's
    below_norm: float = 0.1  # for SKUs without a snapshot price: share of category median


def price_verdict(state: CatalogState, sku: str, rule: PriceRule) -> list[str]:
    """Reasons the SKU's current price is an error; [] when it is fine."""
    info = state.info(sku)
    price, currency = state.current_price(sku)
    if info is None or price is None:
        return []
    reasons = []
    if info.currency is not None and currency != info.currency:
        reasons.append("currency_switch")
    now = state.snap.base_price(price, currency)
    before = state.snap.base_price(info.price, info.currency)
    if now is not None and before:
        if now < rule.below_snapshot * before:
            reasons.append("below_snapshot")
    elif now is not None:
        norm = state.snap.category_norm.get(info.category)
        if norm and now < rule.below_norm * norm:
            reasons.append("below_category_norm")
    return reasons


def is_restored(state: CatalogState, sku: str, kind: str, rule: PriceRule) -> bool:
    """The SKU no longer shows the finding's fault."""
    info = state.info(sku)
    if kind == "price_error":
        return not price_verdict(state, sku, rule)
    return info is not None and state.current_attrs(sku) == info.attrs
