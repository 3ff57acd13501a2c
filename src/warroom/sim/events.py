"""The day's records, formatted as contract NDJSON lines with their delivery order."""

from __future__ import annotations

import numpy as np

from warroom.contract.rules import ENUMS
from warroom.sim import world
from warroom.sim.day import TAG, Day
from warroom.sim.output import Sink, attrs, money, ts_text

PAGES = ["home", "search", "item", "cart", "checkout"]
PAGE_W = np.array([0.25, 0.25, 0.35, 0.1, 0.05])
REASONS = list(ENUMS[("refund", "reason")])  # the contract's own list
REASON_W = np.array([0.2, 0.2, 0.1, 0.1, 0.05, 0.3, 0.05])
ERRORS = ["insufficient_funds", "card_declined", "risk_rejected"]


def emit(day: Day, sink: Sink) -> None:
    rng, cat, lines = day.rng, day.cat, day.lines
    order_ts = {}
    order_meta = {}
    rfc = rng.random(len(lines)) < 0.01
    cols = zip(
        lines.ts.tolist(),
        lines.order.tolist(),
        lines.user.tolist(),
        lines.merchant.tolist(),
        lines.item.tolist(),
        lines.sku.tolist(),
        lines.region.tolist(),
        lines.channel.tolist(),
        lines.campaign.tolist(),
        lines.qty.tolist(),
        lines.price.tolist(),
        rfc.tolist(),
        strict=True,
    )
    scramble_t, scrambled = day.scramble or (None, set())
    for (
        ts,
        order,
        user,
        merchant,
        item,
        sku,
        region,
        channel,
        campaign,
        qty,
        price,
        as_text,
    ) in cols:
        cur = cat.merchant_cur[merchant]
        reg = world.REGIONS[region]
        device, address = _device_address(day, user)
        shown = cat.sku_attrs[sku]
        if scramble_t is not None and sku in scrambled and ts >= scramble_t:
            shown = day.shown_attrs[sku]
        camp = f',"campaign":"{world.CAMPAIGNS[campaign]}"' if campaign >= 0 else ""
        sink.add(
            ts,
            f'{{"type":"order","id":"{sink.next_id()}","ts":{ts_text(ts, as_text)},'
            f'"order_id":"o-{order}","user_id":"u-{user}","merchant_id":"m-{merchant}",'
            f'"item_id":"i-{item}","sku_id":"s-{sku}","category":"{cat.item_category[item]}",'
            f'"region":"{reg}","country":"{reg[:2]}","channel":"{world.CHANNELS[channel]}",'
            f'"quantity":{qty},"unit_price":{money(price, cur)},"currency":"{cur}"{camp},'
            f'"sku_attrs":{attrs(shown)},"device_id":"{device}","address_id":"{address}"}}',
        )
        order_ts[order] = ts
        meta = order_meta.setdefault(order, [0, cur, user, merchant, reg, set()])
        meta[0] += qty * price
        meta[5].add(sku)
    paid = _payments(day, sink, order_ts, order_meta)
    _after_payment(day, sink, paid, order_meta)
    _visits(day, sink)
    _sku_changes(day, sink)


def _device_address(day: Day, user: int) -> tuple[str, str]:
    if user in day.ring:
        return day.ring[user]
    address = day.pickup.get(user) or f"a-{user - user % 2 if user % 33 == 0 else user}"
    return f"d-{user}", address


def _method(rng: np.random.Generator, country: str) -> str:
    if country == "CN":
        return str(rng.choice(["alipay", "wechat", "bank", "card"], p=[0.55, 0.3, 0.07, 0.08]))
    return str(rng.choice(["card", "paypal", "alipay"], p=[0.6, 0.35, 0.05]))


def _payments(day: Day, sink: Sink, order_ts: dict, meta: dict) -> dict[int, int]:
    """Payment attempts, failed ones retried; returns order -> time it was paid."""
    rng = day.rng
    paid: dict[int, int] = {}
    outage = day.outage
    for order, ts in order_ts.items():
        amount, cur, user, _merchant, region, _skus = meta[order]
        method = _method(rng, region[:2])
        t = ts + int(rng.lognormal(7.3, 0.6))  # ~1.5 s after the order
        for attempt in range(3):
            down = (
                outage is not None and (method, region) == outage[:2] and outage[2] <= t < outage[3]
            )
            ok = not down and rng.random() < (world.METHOD_OK[method] if attempt == 0 else 0.92)
            latency = int(rng.lognormal(np.log(world.METHOD_LATENCY[method]), 0.5))
            error = ""
            if down:
                latency = 3000 + int(rng.integers(0, 5000))
                error = ',"error":"gateway_timeout"'
            elif not ok:
                error = f',"error":"{rng.choice(ERRORS)}"'
            sink.add(
                t,
                f'{{"type":"payment","id":"{sink.next_id()}","ts":{t},'
                f'"order_id":"o-{order}","user_id":"u-{user}",'
                f'"status":"{"succeeded" if ok else "failed"}","method":"{method}",'
                f'"amount":{money(amount, cur)},"currency":"{cur}",'
                f'"latency_ms":{latency}{error}}}',
            )
            if ok:
                paid[order] = t
                break
            t += int(rng.integers(2_000, 8_000))
    return paid


def _after_payment(day: Day, sink: Sink, paid: dict[int, int], meta: dict) -> None:
    rng, d = day.rng, day.duration
    scramble_t, scrambled = day.scramble or (None, set())
    abusive = set(day.ring)
    for order, t in paid.items():
        amount, cur, user, merchant, _region, skus = meta[order]
        shipped = t + int(d * rng.uniform(0.01, 0.05))
        if user not in abusive and shipped < day.end:
            sink.add(
                shipped,
                f'{{"type":"shipment","id":"{sink.next_id()}","ts":{shipped},'
                f'"order_id":"o-{order}","merchant_id":"m-{merchant}",'
                f'"status":"shipped","carrier":"cainiao"}}',
            )
            delivered = shipped + int(d * rng.uniform(0.02, 0.1))
            if delivered < day.end and rng.random() < 0.6:
                sink.add(
                    delivered,
                    f'{{"type":"shipment","id":"{sink.next_id()}",'
                    f'"ts":{delivered},"order_id":"o-{order}",'
                    f'"merchant_id":"m-{merchant}","status":"delivered"}}',
                )
        reason, returned, when = _refund_plan(day, order, t, user, skus, scramble_t, scrambled)
        if reason is None or when >= day.end:
            continue
        device, address = _device_address(day, user)
        sink.add(
            when,
            f'{{"type":"refund","id":"{sink.next_id()}","ts":{when},'
            f'"refund_id":"r-{order}","order_id":"o-{order}","user_id":"u-{user}",'
            f'"merchant_id":"m-{merchant}","amount":{money(amount, cur)},'
            f'"currency":"{cur}","reason":"{reason}",'
            f'"return_shipped":{"true" if returned else "false"},'
            f'"device_id":"{device}","address_id":"{address}"}}',
        )


def _refund_plan(
    day: Day, order: int, t: int, user: int, skus: set, scramble_t: int | None, scrambled: set
) -> tuple[str | None, bool, int]:
    rng, d = day.rng, day.duration
    if user in day.ring:  # order, then refund fast, mostly without sending anything back
        return (
            str(rng.choice(["not_received", "not_as_described"])),
            bool(rng.random() < 0.2),
            t + int(d * rng.uniform(0.005, 0.02)),
        )
    if scramble_t is not None and t >= scramble_t and skus & scrambled and rng.random() < 0.5:
        return (
            str(rng.choice(["wrong_color", "wrong_size"])),
            True,
            t + int(d * rng.uniform(0.03, 0.1)),
        )
    share = 0.4 if user in day.returners else 0.025
    if rng.random() < share:
        return (
            str(rng.choice(REASONS, p=REASON_W)),
            bool(rng.random() < 0.9),
            t + int(d * rng.uniform(0.02, 0.2)),
        )
    return None, False, 0


def _visits(day: Day, sink: Sink) -> None:
    """About ten visits per order line, in the same seconds, with the incidents' gaps."""
    rng, lines = day.rng, day.lines
    n = len(lines) * 10
    pick = rng.integers(0, len(lines), n)
    ts = lines.ts[pick] - rng.integers(0, 3_000, n)
    region, channel = lines.region[pick], lines.channel[pick]
    spike = lines.tag[pick] == TAG["traffic_spike"]
    region = np.where(spike, region, rng.choice(len(world.REGIONS), n, p=world.REGION_W))
    pages = rng.choice(len(PAGES), n, p=PAGE_W)
    users = rng.integers(0, day.n_users, n)
    items = lines.item[pick]
    for label in day.labels:  # outages and drops remove visits too
        if label["kind"] in ("regional_outage", "traffic_drop"):
            key, value = next(iter(label["scope"].items()))
            codes = region if key == "region" else channel
            wanted = (world.REGIONS if key == "region" else world.CHANNELS).index(value)
            gone = (codes == wanted) & (ts >= label["start"]) & (ts < label["end"])
            if label["kind"] == "traffic_drop":
                gone &= rng.random(len(ts)) < 0.7
            keep = ~gone
            ts, region, channel, pages, users, items = (
                a[keep] for a in (ts, region, channel, pages, users, items)
            )
    for t, r, c, p, u, i in zip(
        ts.tolist(),
        region.tolist(),
        channel.tolist(),
        pages.tolist(),
        users.tolist(),
        items.tolist(),
        strict=True,
    ):
        reg = world.REGIONS[r]
        item = f',"item_id":"i-{i}"' if p == 2 else ""
        sink.add(
            t,
            f'{{"type":"visit","id":"{sink.next_id()}","ts":{t},"user_id":"u-{u}",'
            f'"region":"{reg}","country":"{reg[:2]}","channel":"{world.CHANNELS[c]}",'
            f'"page":"{PAGES[p]}"{item}}}',
        )


def _sku_changes(day: Day, sink: Sink) -> None:
    rng, cat = day.rng, day.cat
    n_sync = max(20, int(day.duration / 1000 * 0.3))
    for t, sku in zip(
        np.sort(rng.integers(day.start, day.end, n_sync)).tolist(),
        rng.integers(0, len(cat.sku_item), n_sync).tolist(),
        strict=True,
    ):
        old = int(cat.sku_price[sku])
        new = max(1, int(old * rng.uniform(0.95, 1.05)))
        item = int(cat.sku_item[sku])
        day.changes.append(
            (
                t,
                sku,
                "batch:price-sync",
                {"price": old},
                {"price": new},
                item,
                int(cat.item_merchant[item]),
            )
        )
    for t, sku, actor, before, after, item, merchant in day.changes:
        cur = cat.merchant_cur[merchant]
        sink.add(
            t,
            f'{{"type":"sku_change","id":"{sink.next_id()}","ts":{t},'
            f'"merchant_id":"m-{merchant}","item_id":"i-{item}","sku_id":"s-{sku}",'
            f'"actor":"{actor}","before":{_state(cat, sku, before, cur)},'
            f'"after":{_state(cat, sku, after, cur)}}}',
        )


def _state(cat: world.Catalog, sku: int, change: dict, cur: str) -> str:
    shown = change.get("attrs", cat.sku_attrs[sku])
    price = change.get("price")
    if price is None:
        return f'{{"attrs":{attrs(shown)}}}'
    return f'{{"attrs":{attrs(shown)},"price":{money(price, cur)},"currency":"{cur}"}}'
