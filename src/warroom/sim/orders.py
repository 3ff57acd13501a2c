"""Order lines of the simulated day, as columns (one row per order line)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from warroom.sim import world


@dataclass
class Lines:
    ts: np.ndarray
    order: np.ndarray  # order number (lines of one order share it, and ts, user, region...)
    user: np.ndarray
    merchant: np.ndarray
    item: np.ndarray
    sku: np.ndarray
    region: np.ndarray  # index into world.REGIONS
    channel: np.ndarray
    campaign: np.ndarray  # -1 = none
    qty: np.ndarray
    price: np.ndarray  # minor units, merchant currency
    tag: np.ndarray  # 0 normal; otherwise the scenario that made the line

    def __len__(self) -> int:
        return len(self.ts)

    def select(self, mask: np.ndarray) -> Lines:
        return Lines(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Lines]) -> Lines:
        return Lines(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Lines)}
        )


def place(
    rng: np.random.Generator,
    cat: world.Catalog,
    ts: np.ndarray,
    first_order: int,
    n_users: int,
    channel: np.ndarray | None = None,
    skus: np.ndarray | None = None,
    users: np.ndarray | None = None,
    tag: int = 0,
) -> Lines:
    """Orders placed at `ts` (one per element), some with a second line."""
    n = len(ts)
    if skus is None:
        merchant = rng.choice(len(cat.merchant_w), size=n, p=cat.merchant_w)
        item = np.asarray([rng.choice(cat.merchant_items[m]) for m in merchant])
        sku = np.asarray([rng.choice(cat.item_skus[i]) for i in item])
    else:
        sku = skus
        item = cat.sku_item[sku]
        merchant = cat.item_merchant[item]
    region = rng.choice(len(world.REGIONS), size=n, p=world.REGION_W)
    if channel is None:
        channel = rng.choice(len(world.CHANNELS), size=n, p=world.CHANNEL_W)
    campaign = np.where(rng.random(n) < 0.8, rng.integers(0, len(world.CAMPAIGNS), n), -1)
    if users is None:  # heavy-tailed: a few buyers order a lot
        users = np.minimum((rng.pareto(1.2, n) * n_users / 20).astype(np.int64), n_users - 1)
    qty = 1 + rng.geometric(0.7, n) - 1
    order = first_order + np.arange(n)
    lines = Lines(
        ts,
        order,
        users,
        merchant,
        item,
        sku,
        region,
        channel,
        campaign,
        qty,
        cat.sku_price[sku].copy(),
        np.full(n, tag),
    )
    extra = (rng.random(n) < 0.25) & (skus is None)
    if extra.any():  # a second line from the same merchant
        second = lines.select(extra)
        second.item = np.asarray([rng.choice(cat.merchant_items[m]) for m in second.merchant])
        second.sku = np.asarray([rng.choice(cat.item_skus[i]) for i in second.item])
        second.price = cat.sku_price[second.sku].copy()
        lines = Lines.concat([lines, second])
    return lines
