"""Small hand-rolled streams for engine tests (the simulator makes the big ones)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

T0 = 1_794_326_400_000
REGIONS = ("CN-ZJ", "CN-GD", "US-CA")
PRICES = {
    "CNY": ("0.01", "19.99", "199.90", "1234.56"),
    "USD": ("0.10", "49.99", "5.05"),
    "JPY": ("1", "1980", "333"),
}
RATE = {
    "CNY": Decimal(1),
    "USD": Decimal("7.1556"),
    "JPY": Decimal("0.046582"),
    "EUR": Decimal("7.7213"),
}


@dataclass
class Ev:
    ts: int
    doc: dict

    def line(self) -> bytes:
        return json.dumps(self.doc, separators=(",", ":")).encode()


def stream(rng: random.Random, n_orders: int, span_ms: int = 20_000) -> list[Ev]:
    """Orders with payments, refunds and visits; a payment never precedes its order."""
    out: list[Ev] = []
    for i in range(n_orders):
        ts = T0 + rng.randrange(span_ms)
        cur = rng.choice(tuple(PRICES))
        region = rng.choice(REGIONS)
        order = {
            "type": "order",
            "id": f"e-o{i}",
            "ts": ts,
            "order_id": f"o{i}",
            "user_id": f"u{rng.randrange(50)}",
            "merchant_id": f"m{rng.randrange(5)}",
            "item_id": "i",
            "sku_id": "s",
            "category": rng.choice(("a", "b")),
            "region": region,
            "country": region[:2],
            "channel": "app",
            "quantity": rng.randint(1, 3),
            "unit_price": float(rng.choice(PRICES[cur])),
            "currency": cur,
        }
        out.append(Ev(ts, order))
        if rng.random() < 0.8:
            amount = Decimal(str(order["unit_price"])) * order["quantity"]
            pts = ts + rng.randrange(3_000)
            out.append(
                Ev(
                    pts,
                    {
                        "type": "payment",
                        "id": f"e-p{i}",
                        "ts": pts,
                        "order_id": f"o{i}",
                        "user_id": order["user_id"],
                        "status": "succeeded" if rng.random() < 0.9 else "failed",
                        "method": rng.choice(("card", "alipay")),
                        "amount": float(amount),
                        "currency": cur,
                        "latency_ms": rng.randrange(2_000),
                    },
                )
            )
        if rng.random() < 0.2:
            rts = ts + rng.randrange(5_000)
            out.append(
                Ev(
                    rts,
                    {
                        "type": "refund",
                        "id": f"e-r{i}",
                        "ts": rts,
                        "refund_id": f"r{i}",
                        "order_id": f"o{i}",
                        "user_id": order["user_id"],
                        "merchant_id": order["merchant_id"],
                        "amount": order["unit_price"],
                        "currency": cur,
                        "reason": "other",
                    },
                )
            )
        vts = T0 + rng.randrange(span_ms)
        out.append(
            Ev(
                vts,
                {
                    "type": "visit",
                    "id": f"e-v{i}",
                    "ts": vts,
                    "user_id": "u",
                    "region": region,
                    "country": region[:2],
                    "channel": "web",
                    "page": "home",
                },
            )
        )
    out.sort(key=lambda e: e.ts)
    return out


def to_base_cents(amount: Decimal, cur: str) -> int:
    value = (amount * RATE[cur]).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return int(value * 100)


def reference(events: list[Ev]) -> dict[tuple[int, str], dict[str, int]]:
    """Brute force with decimal: per (window, region) totals over the unique events."""
    orders = {e.doc["order_id"]: e.doc for e in events if e.doc["type"] == "order"}
    out: dict[tuple[int, str], dict[str, int]] = {}
    seen: set[str] = set()
    for e in events:
        d = e.doc
        if d["id"] in seen:
            continue
        seen.add(d["id"])
        win = e.ts // 1000 * 1000
        region = d["region"] if "region" in d else orders[d["order_id"]]["region"]
        for key in ((win, ""), (win, region)):
            cell = out.setdefault(
                key,
                {
                    "gmv": 0,
                    "order_lines": 0,
                    "pay_successes": 0,
                    "pay_amount": 0,
                    "refund_amount": 0,
                    "visits": 0,
                },
            )
            if d["type"] == "order":
                value = Decimal(str(d["unit_price"])) * d["quantity"]
                cell["gmv"] += to_base_cents(value, d["currency"])
                cell["order_lines"] += 1
            elif d["type"] == "payment" and d["status"] == "succeeded":
                cell["pay_successes"] += 1
                cell["pay_amount"] += to_base_cents(Decimal(str(d["amount"])), d["currency"])
            elif d["type"] == "refund":
                cell["refund_amount"] += to_base_cents(Decimal(str(d["amount"])), d["currency"])
            elif d["type"] == "visit":
                cell["visits"] += 1
    return out


MINOR_DIGITS = {"CNY": 2, "USD": 2, "JPY": 0, "EUR": 2}


def reference_local(events: list[Ev]) -> dict[tuple[int, str], dict[str, int]]:
    """Brute force with decimal: per (window, currency) money in that currency's minor
    units, over the unique events."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    seen: set[str] = set()
    for e in events:
        d = e.doc
        if d["id"] in seen or "currency" not in d:
            continue
        seen.add(d["id"])
        scale = Decimal(10) ** MINOR_DIGITS[d["currency"]]
        cell = out.setdefault(
            (e.ts // 1000 * 1000, d["currency"]),
            {"gmv_local": 0, "pay_amount_local": 0, "refund_amount_local": 0},
        )
        if d["type"] == "order":
            cell["gmv_local"] += int(Decimal(str(d["unit_price"])) * d["quantity"] * scale)
        elif d["type"] == "payment" and d["status"] == "succeeded":
            cell["pay_amount_local"] += int(Decimal(str(d["amount"])) * scale)
        elif d["type"] == "refund":
            cell["refund_amount_local"] += int(Decimal(str(d["amount"])) * scale)
    return {k: v for k, v in out.items() if any(v.values())}


# One record of each kind used by the hand-made streams (bytes: one NDJSON line).
def order(i: int, ts: int, region: str = "CN-ZJ", price: float = 10.0) -> bytes:
    return json.dumps(
        {
            "type": "order",
            "id": f"o-{i}",
            "ts": ts,
            "order_id": f"o{i}",
            "user_id": "u",
            "merchant_id": "m",
            "item_id": "i",
            "sku_id": "s",
            "category": "c",
            "region": region,
            "country": region[:2],
            "channel": "app",
            "quantity": 1,
            "unit_price": price,
            "currency": "CNY",
        }
    ).encode()


def payment(i: int, ts: int, status: str = "succeeded") -> bytes:
    return json.dumps(
        {
            "type": "payment",
            "id": f"p-{i}",
            "ts": ts,
            "order_id": f"o{i}",
            "user_id": "u",
            "status": status,
            "method": "card",
            "amount": 10.0,
            "currency": "CNY",
        }
    ).encode()
