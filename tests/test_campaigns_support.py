"""A small hand-checkable run for the campaign tests (no tests here).

Window 00:00–00:10 +08:00 on 2025-11-11, plan 80 % of target by 00:05. c-01 orders: two
before the window (excluded), twenty in its first 120 s (one every 6 s, 21.00 CNY each),
one at 00:05:00; c-02 and campaign-less orders around them; two refunds on c-01 orders.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_api_support import RATES, T0, ndjson, order
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
