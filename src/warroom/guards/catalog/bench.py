"""`warroom catalog bench`: how fast the guard checks sku_change records.

A synthetic catalog (items of colour x size variants) and a stream of changes in the
proportions of a busy day: routine price syncs, consistent size renames, merchant
edits of one SKU's price, a midnight scramble across many merchants and a 1 % price
error. The guard is fed the parsed changes in batches, as the engine hands them over.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from warroom.contract.rates import RatesTable
from warroom.guards.catalog.guard import CatalogGuard
from warroom.guards.catalog.snapshot import Sku, Snapshot

COLOURS = ["black", "white", "red", "blue", "green", "grey"]
SIZES = ["S", "M", "L", "XL"]
T0 = 1_794_326_400_000


def synthetic(n_items: int, seed: int = 1) -> Snapshot:
    rng = np.random.default_rng(seed)
    skus: dict[str, Sku] = {}
    items: dict[str, list[str]] = {}
    n = 0
    for item in range(n_items):
        merchant = f"m-{item // 5}"
        colours = rng.choice(COLOURS, rng.integers(1, 4), replace=False).tolist()
        sizes = rng.choice(SIZES, rng.integers(1, 4), replace=False).tolist()
        price = int(rng.integers(1_000, 100_000))
        for c in colours:
            for s in sizes:
                sku = f"s-{n}"
                n += 1
                skus[sku] = Sku(
                    merchant, f"i-{item}", "apparel", {"color": c, "size": s}, price, "CNY"
                )
                items.setdefault(f"i-{item}", []).append(sku)
    return Snapshot.build(skus, items, RatesTable.load(None))


def changes(snap: Snapshot, n: int, seed: int = 2) -> list[dict[str, Any]]:
    """`n` parsed sku_change records over about an hour of event time."""
    rng = np.random.default_rng(seed)
    ids = list(snap.skus)
    picks = rng.integers(0, len(ids), n).tolist()
    ratio = rng.uniform(0.95, 1.05, n).tolist()
    out: list[dict[str, Any]] = []
    for k, (i, r) in enumerate(zip(picks, ratio, strict=True)):
        sku_id = ids[i]
        sku = snap.skus[sku_id]
        ts = T0 + k * 3  # ~330 changes per second of event time
        base = {
            "type": "sku_change",
            "ts": ts,
            "pos": k,
            "merchant_id": sku.merchant,
            "item_id": sku.item,
            "sku_id": sku_id,
        }
        if k % 1000 == 500:  # a consistent rename of a whole item's size labels
            for s in snap.items[sku.item]:
                a = snap.skus[s].attrs
                new = {**a, "size": a["size"] + "-v2"}
                out.append(
                    {
                        **base,
                        "sku_id": s,
                        "actor": "batch:label-rename",
                        "before": {"attrs": a},
                        "after": {"attrs": new},
                    }
                )
            continue
        if k == n // 2:  # the midnight scramble: 40 items of 40 merchants, one actor
            out.extend(scramble(snap, ts, rng))
        if k == n // 3:  # a price set to 1 % of itself
            out.append(
                {
                    **base,
                    "actor": f"merchant:{sku.merchant}",
                    "after": {
                        "attrs": sku.attrs,
                        "price": (sku.price or 100) / 10_000,
                        "currency": "CNY",
                    },
                }
            )
            continue
        price = max(1, int(sku.price * r)) / 100 if sku.price else 1.0
        out.append(
            {
                **base,
                "actor": "batch:price-sync",
                "before": {"attrs": sku.attrs},
                "after": {"attrs": sku.attrs, "price": price, "currency": "CNY"},
            }
        )
    return out[:n]


def scramble(snap: Snapshot, ts: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    multi = [i for i, skus in snap.items.items() if len(skus) >= 2]
    for k, item in enumerate(rng.choice(multi, 40, replace=False).tolist()):
        skus = snap.items[item]
        for j, s in enumerate(skus):
            sku, new = snap.skus[s], snap.skus[skus[j - 1]].attrs
            out.append(
                {
                    "type": "sku_change",
                    "ts": ts + k,
                    "pos": -1,
                    "merchant_id": sku.merchant,
                    "item_id": item,
                    "sku_id": s,
                    "actor": "batch:attr-sync",
                    "before": {"attrs": sku.attrs},
                    "after": {"attrs": new},
                }
            )
    return out


def run(n_changes: int = 1_000_000, n_items: int = 50_000, batch: int = 10_000) -> dict:
    t = time.perf_counter()
    snap = synthetic(n_items)
    stream = changes(snap, n_changes)
    prepared = time.perf_counter() - t
    guard = CatalogGuard(snap)
    t = time.perf_counter()
    for start in range(0, len(stream), batch):
        guard.step(None, stream[start : start + batch])
    guard.finish()
    seconds = time.perf_counter() - t
    return {
        "skus": len(snap.skus),
        "sku_changes": guard.changes,
        "seconds": round(seconds, 2),
        "changes_per_second": round(guard.changes / seconds),
        "findings": len(guard.findings),
        "setup_seconds": round(prepared, 2),
    }
