"""A small hand-checkable run for the campaign tests (no tests here).

Window 00:00–00:10 +08:00 on 2025-11-11, plan 80 % of target by 00:05. c-01 orders: two
before the window (excluded), twenty in its first 120 s (one every 6 s, 21.00 CNY each),
one at 00:05:00; c-02 and campaign-less orders around them; two refunds on c-01 orders.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_api_support import RATES, T0, ndjson, order, payment, visit
from warroom.runner import Runner, RunOptions

CAMPAIGNS_YAML = """
campaigns:
  - id: c-01
    name: Opening Bell
    commander: li.wei
    window: {start: "2025-11-11T00:00:00", end: "2025-11-11T00:10:00", timezone: Asia/Shanghai}
    scope: {campaign: c-01}
    targets: {gmv: 1000, orders: 100, refund_rate: 0.05}
    plan: [{at: "00:05", share: 0.8}]
    tolerance: 0.1
  - id: cross-border
    name: Global Shoppers
    commander: emma.jones
    window: {start: "2025-11-11T00:00:00", end: "2025-11-11T00:10:00", timezone: Asia/Shanghai}
    scope: {regions: [US-CA, JP-13]}
    targets: {orders: 10}
    overseas: true
"""


def refund(n: int, ts: int, order_no: int) -> dict:
    return {
        "type": "refund",
        "id": f"ev-r{n}",
        "ts": ts,
        "refund_id": f"R{n}",
        "order_id": f"O{order_no}",
        "user_id": f"u{order_no % 7}",
        "merchant_id": "m1",
        "amount": 21.0,
        "currency": "CNY",
        "reason": "changed_mind",
    }


def small_day() -> list[dict]:
    recs: list[dict] = []
    for n in range(2):  # before the window: not the campaign's
        recs.append(order(n, T0 - 10_000 + n * 1000) | {"campaign": "c-01"})
    for i in range(20):
        n = 10 + i
        recs.append(order(n, T0 + i * 6_000 + 200) | {"campaign": "c-01"})
        recs.append(order(100 + i, T0 + i * 6_000 + 300) | {"campaign": "c-02"})
        recs.append(order(200 + i, T0 + i * 6_000 + 400))  # no campaign
    recs.append(order(300, T0 + 300_000 + 10) | {"campaign": "c-01"})  # at 00:05:00
    for i, region in enumerate(["US-CA", "JP-13", "US-CA", "GB-LND"]):
        o = order(400 + i, T0 + 7_000 + i * 1000, region=region)
        o["country"] = region[:2]
        recs.append(o)
    recs.append(refund(1, T0 + 30_000, 10))
    recs.append(refund(2, T0 + 31_000, 11))
    recs.sort(key=lambda r: r["ts"])
    return recs


def build_state(tmp: Path) -> Path:
    (tmp / "rates.json").write_text(json.dumps(RATES))
    (tmp / "events.ndjson").write_bytes(ndjson(small_day()))
    (tmp / "campaigns.yaml").write_text(CAMPAIGNS_YAML)
    data = tmp / "state"
    opts = RunOptions(events=str(tmp / "events.ndjson"), data_dir=data, rates=tmp / "rates.json")
    Runner(opts).run()
    return data


# -- money in several currencies (hand-checked figures in test_api_currencies.py) ----------
CURRENCY_CAMPAIGNS_YAML = """
campaigns:
  - id: cx
    name: Global Buy
    commander: wang.fang
    window: {start: "2025-11-11T00:00:00", end: "2025-11-11T00:10:00", timezone: Asia/Shanghai}
    scope: {campaign: cx}
    targets: {gmv: 1000}
  - id: cx-abroad
    name: Global Buy Abroad
    commander: emma.jones
    window: {start: "2025-11-11T00:00:00", end: "2025-11-11T00:10:00", timezone: Asia/Shanghai}
    scope: {campaign: cx, regions: [US-CA, JP-13]}
    targets: {gmv: 500}
    overseas: true
"""


def _paid(n: int, ts: int, amount: float, currency: str, ok: bool = True) -> dict:
    return payment(n, ts, ok=ok) | {"amount": amount, "currency": currency}


def currency_day() -> list[dict]:
    """Orders in USD, JPY and CNY (three of them in campaign cx), their payments (one
    failed) and a refund in JPY; a visit at +30 s finalises every window before it.

    USD: orders 24.68 + 0.05 = 24.73, paid 24.68;      base 176.60 + 0.36 = 176.96
    JPY: order 1000, paid 1000, refunded 500;          base 46.58, refunds 23.29
    CNY: order 21.00, paid 21.00;                      base 21.00
    """
    o1 = order(1, T0 + 1_000, price="12.34", qty=2, region="US-CA", currency="USD")
    o2 = order(2, T0 + 2_000, price="1000", qty=1, region="JP-13", currency="JPY")
    o3 = order(3, T0 + 3_000, price="10.50", qty=2, region="CN-ZJ")
    o4 = order(4, T0 + 4_000, price="0.05", qty=1, region="US-NY", currency="USD")
    for o, country in ((o1, "US"), (o2, "JP"), (o4, "US")):
        o["country"] = country
    for o in (o1, o2, o3):
        o["campaign"] = "cx"
    o2["unit_price"] = 1000  # a JPY amount has no minor digits
    return [
        o1,
        _paid(1, T0 + 1_500, 24.68, "USD"),
        o2,
        _paid(2, T0 + 2_500, 1000, "JPY"),
        o3,
        _paid(3, T0 + 3_500, 21.0, "CNY"),
        o4,
        _paid(4, T0 + 4_500, 0.05, "USD", ok=False),
        refund(5, T0 + 6_000, 2) | {"amount": 500, "currency": "JPY", "user_id": o2["user_id"]},
        visit(9, T0 + 30_000),
    ]


def build_currency_state(tmp: Path) -> Path:
    (tmp / "rates.json").write_text(json.dumps(RATES))
    (tmp / "events.ndjson").write_bytes(ndjson(currency_day()))
    data = tmp / "state"
    opts = RunOptions(events=str(tmp / "events.ndjson"), data_dir=data, rates=tmp / "rates.json")
    Runner(opts).run()
    return data
