"""The simulated marketplace: regions, currencies, merchants (Zipf-sized), items, SKUs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIDNIGHT = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00
# (region, country, weight): China's provinces by rough e-commerce weight, then abroad.
CN = [
    ("CN-GD", 12),
    ("CN-ZJ", 10),
    ("CN-JS", 9),
    ("CN-SH", 7),
    ("CN-BJ", 6),
    ("CN-SD", 6),
    ("CN-FJ", 4),
    ("CN-HE", 4),
    ("CN-HA", 4),
    ("CN-SC", 5),
    ("CN-HB", 4),
    ("CN-HN", 3),
    ("CN-AH", 3),
    ("CN-LN", 3),
    ("CN-SN", 2),
    ("CN-CQ", 2),
    ("CN-TJ", 2),
    ("CN-JX", 2),
    ("CN-GX", 2),
    ("CN-YN", 2),
    ("CN-SX", 1),
    ("CN-JL", 1),
    ("CN-HL", 1),
    ("CN-GZ", 1),
    ("CN-NM", 1),
    ("CN-XJ", 1),
    ("CN-GS", 1),
    ("CN-HI", 1),
    ("CN-NX", 1),
    ("CN-QH", 1),
    ("CN-XZ", 1),
]
ABROAD = [
    ("US-CA", 3),
    ("US-NY", 2),
    ("JP-13", 2),
    ("KR-11", 1.5),
    ("SG-01", 1),
    ("GB-LND", 1),
    ("DE-BE", 1),
    ("FR-IDF", 1),
    ("AU-NSW", 1),
    ("MY-14", 1),
    ("HK-HCW", 1),
]
REGIONS = [r for r, _ in CN + ABROAD]
REGION_W = np.array([w for _, w in CN] + [w * 0.9 for _, w in ABROAD], dtype=float)
REGION_W /= REGION_W.sum()
CURRENCY_OF_COUNTRY = {
    "CN": "CNY",
    "US": "USD",
    "JP": "JPY",
    "KR": "KRW",
    "SG": "SGD",
    "GB": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "AU": "AUD",
    "MY": "USD",
    "HK": "HKD",
}
RATES = {
    "CNY": "1",
    "USD": "7.1556",
    "EUR": "7.7213",
    "JPY": "0.046582",
    "GBP": "9.0412",
    "KRW": "0.005213",
    "HKD": "0.9187",
    "SGD": "5.4921",
    "AUD": "4.6703",
}
DIGITS = {"JPY": 0, "KRW": 0}
CATEGORIES = [
    "apparel",
    "shoes",
    "electronics",
    "beauty",
    "food",
    "home",
    "toys",
    "sports",
    "books",
    "jewelry",
    "baby",
    "pets",
    "appliances",
    "grocery",
    "health",
    "outdoor",
]
CAT_PRICE = dict(
    zip(
        CATEGORIES,
        [180, 320, 1500, 220, 60, 260, 140, 300, 45, 900, 160, 90, 2200, 40, 120, 350],
        strict=True,
    )
)
COLOURS = ["black", "white", "red", "blue", "green", "grey", "pink", "beige", "navy", "brown"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
CHANNELS = ["app", "web", "mini", "other"]
CHANNEL_W = np.array([0.62, 0.18, 0.17, 0.03])
CAMPAIGNS = [f"c-{i:02d}" for i in range(1, 12)]
METHODS = ["alipay", "wechat", "card", "paypal", "bank"]
METHOD_OK = {"alipay": 0.995, "wechat": 0.993, "card": 0.975, "paypal": 0.985, "bank": 0.98}
METHOD_LATENCY = {"alipay": 180, "wechat": 200, "card": 900, "paypal": 1200, "bank": 600}


def digits(currency: str) -> int:
    return DIGITS.get(currency, 2)


@dataclass
class Catalog:
    merchant_w: np.ndarray  # order share per merchant (Zipf)
    merchant_cur: list[str]
    item_merchant: np.ndarray
    item_category: list[str]
    item_skus: list[np.ndarray]  # sku indices of each item
    sku_item: np.ndarray
    sku_attrs: list[dict[str, str]]
    sku_price: np.ndarray  # minor units of the merchant's currency
    merchant_items: list[np.ndarray]


def build_catalog(rng: np.random.Generator, rate: float) -> Catalog:
    n_merchants = int(np.clip(2000 + rate * 4, 2000, 5000))
    ranks = np.arange(1, n_merchants + 1)
    weights = 1.0 / ranks**1.1
    merchant_w = weights / weights.sum()
    abroad = rng.random(n_merchants) < 0.1
    merchant_cur = [
        str(rng.choice(["USD", "EUR", "JPY", "GBP", "KRW", "HKD", "SGD", "AUD"])) if a else "CNY"
        for a in abroad
    ]
    main_cat = rng.integers(0, len(CATEGORIES), n_merchants)
    items_per = np.maximum(1, np.round(4 + 60 * (merchant_w / merchant_w[0]) ** 0.5)).astype(int)
    item_merchant = np.repeat(np.arange(n_merchants), items_per)
    n_items = len(item_merchant)
    other_cat = rng.integers(0, len(CATEGORIES), n_items)
    cats = np.where(rng.random(n_items) < 0.8, main_cat[item_merchant], other_cat)
    item_category = [CATEGORIES[c] for c in cats]
    item_skus, sku_item, sku_attrs, sku_price = [], [], [], []
    for item in range(n_items):
        colours = rng.choice(COLOURS, size=rng.integers(1, 4), replace=False)
        sizes = rng.choice(SIZES, size=rng.integers(1, 4), replace=False)
        cur = merchant_cur[item_merchant[item]]
        base = CAT_PRICE[item_category[item]] * rng.lognormal(0, 0.5)
        major = base / float(RATES[cur])
        start = len(sku_item)
        for colour in colours:
            for size in sizes:
                sku_item.append(item)
                sku_attrs.append({"color": str(colour), "size": str(size)})
                price = major * rng.uniform(0.95, 1.05)
                scale = 10 ** digits(cur)
                sku_price.append(
                    max(
                        1,
                        round(price * scale) // 10 * 10 + 9 if scale > 1 else round(price),
                    )
                )
        item_skus.append(np.arange(start, len(sku_item)))
    merchant_items: list[list[int]] = [[] for _ in range(n_merchants)]
    for item, m in enumerate(item_merchant):
        merchant_items[m].append(item)
    return Catalog(
        merchant_w,
        merchant_cur,
        item_merchant,
        item_category,
        item_skus,
        np.asarray(sku_item),
        sku_attrs,
        np.asarray(sku_price, dtype=np.int64),
        [np.asarray(x) for x in merchant_items],
    )


def day_shape(frac: np.ndarray) -> np.ndarray:
    """Orders per second relative to the plateau, over the fraction of the day elapsed.

    The run starts 3 % before midnight; at 00:00 orders jump ~20x within seconds and
    decay over the first ~15 % of the day; a late rise fills the last ~15 %.
    """
    after = np.clip(frac - 0.03, 0, None)
    surge = np.where(frac >= 0.03, 19.0 * np.exp(-after / 0.03) * np.minimum(1, after * 2000), 0)
    evening = 1.2 / (1 + np.exp(-(frac - 0.88) / 0.015))
    return 1.0 + surge + evening
