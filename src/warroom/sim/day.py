"""A compressed Double-11 day with injected incidents and their ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from warroom.sim import world
from warroom.sim.orders import Lines, place

SCENARIOS = (
    "payment_outage",
    "regional_outage",
    "traffic_drop",
    "traffic_spike",
    "sku_scramble",
    "price_error",
    "refund_abuse",
    "late_data",
    "duplicate_delivery",
)
TAG = {name: i + 1 for i, name in enumerate(SCENARIOS)}


@dataclass
class Day:
    """Everything later steps need to write events and labels."""

    rng: np.random.Generator
    cat: world.Catalog
    start: int
    end: int
    rate: float
    n_users: int
    lines: Lines
    labels: list[dict] = field(default_factory=list)
    hard: dict[str, dict] = field(default_factory=dict)
    shown_attrs: dict[int, dict[str, str]] = field(default_factory=dict)  # sku -> attrs shown
    changes: list[tuple[int, int, str, dict, dict, int, int]] = field(default_factory=list)
    ring: dict[int, tuple[str, str]] = field(default_factory=dict)  # user -> device, address
    pickup: dict[int, str] = field(default_factory=dict)  # user -> shared address
    outage: tuple[str, str, int, int] | None = None  # method, region, t0, t1
    returners: set[int] = field(default_factory=set)
    scramble: tuple[int, set[int]] | None = None  # time, skus

    @property
    def duration(self) -> int:
        return self.end - self.start

    def span(self, at: float, length: float, min_ms: int = 20_000) -> tuple[int, int]:
        t0 = self.start + int(self.duration * at) // 1000 * 1000
        return t0, t0 + max(min_ms, int(self.duration * length) // 1000 * 1000)

    def next_order(self) -> int:
        return int(self.lines.order.max()) + 1 if len(self.lines) else 0

    def add_lines(self, more: Lines) -> None:
        self.lines = Lines.concat([self.lines, more])


# Shoppers go on past the end of the simulated span: the day is a cut through a running
# stream. Every record at or after `end` is dropped (`simulate`), so orders, visits and
# payments all stop together, as in a replay of a real log cut at one instant; ending
# the orders alone left payments trailing for ~14 s, and a visit stream thinning in the
# last 3 s (visits lead the orders they become), which looked like the market collapsing.
TAIL_S = 30


def base_day(rng: np.random.Generator, minutes: float, rate: float) -> Day:
    cat = world.build_catalog(rng, rate)
    seconds = max(60, round(minutes * 60))
    start = world.MIDNIGHT - int(0.03 * seconds) * 1000
    span = seconds + TAIL_S
    per_second = rng.poisson(rate * world.day_shape(np.arange(span) / seconds))
    ts = start + np.repeat(np.arange(span), per_second) * 1000
    ts = ts + rng.integers(0, 1000, len(ts))
    n_users = max(2_000, int(len(ts) * 0.5))
    lines = place(rng, cat, ts, 0, n_users)
    return Day(rng, cat, start, start + seconds * 1000, rate, n_users, lines)


def inject(day: Day, chosen: tuple[str, ...]) -> None:
    steps: dict[str, Callable[[Day], None]] = {
        "regional_outage": _regional_outage,
        "traffic_drop": _traffic_drop,
        "traffic_spike": _traffic_spike,
        "price_error": _price_error,
        "sku_scramble": _sku_scramble,
        "refund_abuse": _refund_abuse,
        "payment_outage": _payment_outage,
        "late_data": _late_data,
        "duplicate_delivery": _duplicate_delivery,
    }
    # traffic is added before it is taken away, so an outage stays silent
    order = (
        "traffic_spike",
        "price_error",
        "sku_scramble",
        "refund_abuse",
        "regional_outage",
        "traffic_drop",
        "payment_outage",
        "late_data",
        "duplicate_delivery",
    )
    for name in order:
        if name in chosen:
            steps[name](day)
    within = day.lines.ts < day.end  # orders past the end are never written
    placed = {f"o-{o}" for o in np.unique(day.lines.order[within]).tolist()}
    for label in day.labels:
        if "orders" in label["entities"]:
            label["entities"]["orders"] = [o for o in label["entities"]["orders"] if o in placed]
    day.labels.sort(key=lambda label: SCENARIOS.index(label["kind"]))
    _hard_cases(day)


def _label(day: Day, kind: str, t0: int, t1: int, scope: dict, **entities: list) -> None:
    day.labels.append(
        {
            "kind": kind,
            "start": t0,
            "end": t1,
            "scope": scope,
            "entities": {k: v for k, v in entities.items() if v},
        }
    )


def _regional_outage(day: Day) -> None:
    t0, t1 = day.span(0.50, 0.03)
    region = world.REGIONS.index("CN-GD")
    hit = (day.lines.region == region) & (day.lines.ts >= t0) & (day.lines.ts < t1)
    day.lines = day.lines.select(~hit)
    _label(day, "regional_outage", t0, t1, {"region": "CN-GD"})


def _traffic_drop(day: Day) -> None:
    t0, t1 = day.span(0.60, 0.03)
    web = world.CHANNELS.index("web")
    in_span = (day.lines.channel == web) & (day.lines.ts >= t0) & (day.lines.ts < t1)
    dropped_orders = np.unique(day.lines.order[in_span])
    dropped_orders = dropped_orders[day.rng.random(len(dropped_orders)) < 0.7]
    day.lines = day.lines.select(~np.isin(day.lines.order, dropped_orders))
    _label(day, "traffic_drop", t0, t1, {"channel": "web"})


def _traffic_spike(day: Day) -> None:
    t0, t1 = day.span(0.70, 0.03)
    n = day.rng.poisson(day.rate * 1.5 * (t1 - t0) / 1000)
    ts = np.sort(day.rng.integers(t0, t1, n))
    mini = np.full(n, world.CHANNELS.index("mini"))
    day.add_lines(
        place(
            day.rng,
            day.cat,
            ts,
            day.next_order(),
            day.n_users,
            channel=mini,
            tag=TAG["traffic_spike"],
        )
    )
    _label(day, "traffic_spike", t0, t1, {"channel": "mini"})


def _price_error(day: Day) -> None:
    t0, t1 = day.span(0.30, 0.02)
    rng, cat = day.rng, day.cat
    merchant = int(rng.integers(20, 200))
    skus = np.concatenate([cat.item_skus[i] for i in cat.merchant_items[merchant]])[:6]
    actor = f"merchant:m-{merchant}"
    for sku in skus.tolist():
        item = int(cat.sku_item[sku])
        old = int(cat.sku_price[sku])
        new = max(1, old // 100)
        day.changes.append((t0 + 200, sku, actor, {"price": old}, {"price": new}, item, merchant))
        cat.sku_price[sku] = new  # later orders pay the wrong price
    after = np.isin(day.lines.sku, skus) & (day.lines.ts >= t0)
    day.lines.price[after] = cat.sku_price[day.lines.sku[after]]
    n = day.rng.poisson(max(30.0, day.rate * 0.3 * (t1 - t0) / 1000))  # bargain hunters
    ts = np.sort(rng.integers(t0 + 1000, t1, n))
    surge = place(
        rng,
        cat,
        ts,
        day.next_order(),
        day.n_users,
        skus=rng.choice(skus, n),
        tag=TAG["price_error"],
    )
    day.add_lines(surge)
    hit = np.isin(day.lines.sku, skus) & (day.lines.ts >= t0)
    _label(
        day,
        "price_error",
        t0,
        t1,
        {"merchant": f"m-{merchant}"},
        merchants=[f"m-{merchant}"],
        skus=[f"s-{s}" for s in skus.tolist()],
        orders=sorted({f"o-{o}" for o in day.lines.order[hit].tolist()}),
    )


def _sku_scramble(day: Day) -> None:
    rng, cat = day.rng, day.cat
    t0 = world.MIDNIGHT + int(day.duration * 0.02) // 1000 * 1000
    candidates = [i for i in range(len(cat.item_skus)) if len(cat.item_skus[i]) >= 2]
    items = rng.choice(candidates, size=min(60, len(candidates)), replace=False)
    scrambled: set[int] = set()
    for k, item in enumerate(items.tolist()):
        skus = cat.item_skus[item]
        values = [cat.sku_attrs[s] for s in skus.tolist()]
        perm = np.roll(np.arange(len(skus)), 1)  # a derangement: every SKU changes
        for j, sku in enumerate(skus.tolist()):
            new = values[perm[j]]
            if new == values[j]:
                continue
            scrambled.add(sku)
            day.shown_attrs[sku] = new
            merchant = int(cat.item_merchant[item])
            day.changes.append(
                (
                    t0 + k * 30 + j,
                    sku,
                    "batch:attr-sync",
                    {"attrs": values[j]},
                    {"attrs": new},
                    item,
                    merchant,
                )
            )
    day.scramble = (t0, scrambled)
    hit = np.isin(day.lines.sku, list(scrambled)) & (day.lines.ts >= t0)
    merchants = sorted({f"m-{int(cat.item_merchant[cat.sku_item[s]])}" for s in scrambled})
    _label(
        day,
        "sku_scramble",
        t0,
        min(day.end, t0 + int(day.duration * 0.2)),
        {},
        merchants=merchants,
        skus=[f"s-{s}" for s in sorted(scrambled)],
        orders=sorted({f"o-{o}" for o in day.lines.order[hit].tolist()}),
    )


def _refund_abuse(day: Day) -> None:
    t0, t1 = day.span(0.40, 0.05, min_ms=60_000)
    rng = day.rng
    ring_users = np.arange(day.n_users, day.n_users + 30)
    day.n_users += 30
    for j, user in enumerate(ring_users.tolist()):
        day.ring[user] = (f"d-ring-{j % 3}", f"a-ring-{j % 2}")
    users = np.repeat(ring_users, 3)
    ts = np.sort(rng.integers(t0, t1, len(users)))
    more = place(
        rng, day.cat, ts, day.next_order(), day.n_users, users=users, tag=TAG["refund_abuse"]
    )
    day.add_lines(more)
    _label(
        day,
        "refund_abuse",
        t0,
        t1 + int(day.duration * 0.05),
        {},
        users=[f"u-{u}" for u in ring_users.tolist()],
        orders=sorted({f"o-{o}" for o in more.order.tolist()}),
    )


def _payment_outage(day: Day) -> None:
    t0, t1 = day.span(0.35, 0.03)
    day.outage = ("card", "US-CA", t0, t1)
    _label(day, "payment_outage", t0, t1, {"method": "card", "region": "US-CA"})


def _late_data(day: Day) -> None:
    t0, t1 = day.span(0.45, 0.02)
    _label(day, "late_data", t0, t1, {"region": "CN-SH"})


def _duplicate_delivery(day: Day) -> None:
    t0, t1 = day.span(0.55, 0.02)
    _label(day, "duplicate_delivery", t0, t1, {})


def _hard_cases(day: Day) -> None:
    """Normal life that looks suspicious: never labelled as incidents."""
    rng = day.rng
    active = np.unique(day.lines.user[day.lines.ts < day.end])
    returners = rng.choice(active, size=min(20, len(active)), replace=False)
    day.returners = set(returners.tolist())
    pickups = {}
    for p in range(3):
        users = rng.choice(active, size=min(40, len(active)), replace=False)
        for u in users.tolist():
            if u not in day.ring:
                day.pickup[u] = f"a-pickup-{p}"
        pickups[f"a-pickup-{p}"] = [f"u-{u}" for u in users.tolist()]
    # a consistent size-label rename across one item: harmless
    item = next(
        i
        for i in range(len(day.cat.item_skus))
        if any(day.cat.sku_attrs[s]["size"] == "XL" for s in day.cat.item_skus[i])
    )
    t = day.start + int(day.duration * 0.25)
    renamed = []
    for k, sku in enumerate(day.cat.item_skus[item].tolist()):
        old = day.cat.sku_attrs[sku]
        if old["size"] == "XL":
            new = {**old, "size": "X-Large"}
            day.changes.append(
                (
                    t + k,
                    sku,
                    "batch:label-rename",
                    {"attrs": old},
                    {"attrs": new},
                    item,
                    int(day.cat.item_merchant[item]),
                )
            )
            renamed.append(f"s-{sku}")
    day.hard = {
        "heavy_returners": {"users": [f"u-{u}" for u in sorted(day.returners)]},
        "shared_addresses": pickups,
        "harmless_batch_edits": {
            "size_rename": {"item": f"i-{item}", "skus": renamed},
            "price_sync_actor": "batch:price-sync",
        },
    }
