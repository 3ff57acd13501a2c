"""Conversion and refund rate: judged with their sample size, on the slice that moved;
quiet through the planned midnight surge and through a traffic step."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from warroom.alerts.model import Alert
from warroom.detect.pipeline import Watch
from warroom.engine.cube import GSET_ID

MIDNIGHT = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00
REGIONS = {"CN-GD": 0.3, "CN-ZJ": 0.25, "CN-JS": 0.2, "US-CA": 0.15, "JP-13": 0.1}
CHANNELS = {"app": 0.6, "web": 0.3, "mini": 0.1}
COLS = ["win", "gset", "k1", "k2", "orders", "visits", "pay_successes", "pay_attempts", "refunds"]


def _day(
    seed: int,
    seconds: int,
    start: int,
    surge: bool = False,
    checkout: tuple[str, int, int] | None = None,
    refunds_x: tuple[str, int, int, float] | None = None,
    traffic: tuple[str, int, int] | None = None,
) -> pl.DataFrame:
    """Orders per (region, channel) at ~60/s (x20 at 00:00, decaying, if `surge`);
    every order brings ~10 visits spread over the 3 s before it; refunds are 3 % of
    the orders of ~30 s before. `checkout` = (channel, from, to): that channel's
    orders fall to 30 % while its shoppers keep browsing. `refunds_x` = (region,
    from, to, factor): that region's refunds multiplied. `traffic` = (channel, from,
    to): that channel's shoppers and their orders fall to 30 % together."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds + 6)  # 3 s either side: visits lead, and the day goes on
    level = np.full(len(t), 60.0)
    if surge:
        after = t - 60
        level = level * np.where(after >= 0, 1 + 19 * np.exp(-np.maximum(after, 0) / 40), 1)
    cells: dict[tuple[str, str], np.ndarray] = {}
    rows = []
    for r, pr in REGIONS.items():
        for c, pc in CHANNELS.items():
            shoppers = rng.poisson(level * pr * pc)
            if traffic and c == traffic[0]:
                cut = (t >= traffic[1]) & (t < traffic[2])
                shoppers = np.where(cut, rng.binomial(shoppers, 0.3), shoppers)
            orders = shoppers.copy()
            if checkout and c == checkout[0]:
                cut = (t >= checkout[1]) & (t < checkout[2])
                orders = np.where(cut, rng.binomial(shoppers, 0.3), orders)
            visits = np.zeros(len(t), dtype=np.int64)
            for k in range(3, len(t)):  # each shopper's ~10 pages in the 3 s before
                if shoppers[k]:
                    visits[k - 3 : k] += rng.multinomial(rng.poisson(10 * shoppers[k]), [1 / 3] * 3)
            past = np.r_[np.full(30, orders[:30].mean()), orders[:-30]]
            refunds = rng.poisson(0.03 * past)
            if refunds_x and r == refunds_x[0]:
                hit = (t >= refunds_x[1]) & (t < refunds_x[2])
                refunds = np.where(hit, rng.poisson(refunds_x[3] * 0.03 * past), refunds)
            cells[(r, c)] = np.stack([orders, visits, orders, orders, refunds])[:, 3:-3]
    sets: dict[tuple[str, ...], dict[tuple[str, ...], np.ndarray]] = {
        ("region", "channel"): {k: v for k, v in cells.items()},
        ("region",): {(r,): sum(v for k, v in cells.items() if k[0] == r) for r in REGIONS},
        ("channel",): {(c,): sum(v for k, v in cells.items() if k[1] == c) for c in CHANNELS},
        (): {(): sum(cells.values())},
    }
    for s in range(seconds):
        for gset, values in sets.items():
            for key, arr in values.items():
                k = [*key, "", ""][:2]
                o, v, ps, pa, rf = (int(x) for x in arr[:, s])
                rows.append((start + s * 1000, GSET_ID[gset], k[0], k[1], o, v, ps, pa, rf))
    return pl.DataFrame(rows, schema=COLS, orient="row")


def _run(cells: pl.DataFrame) -> list[Alert]:
    out: list[Alert] = []
    watch = Watch(out.append)
    wins = cells["win"].unique().sort().to_list()
    for i in range(0, len(wins), 7):
        watch.process(cells.filter(pl.col("win").is_in(wins[i : i + 7])))
    return out


def _firing(alerts: list[Alert], metric: str) -> list[tuple[str, str, int]]:
    return [
        (json.dumps(a.scope), a.direction, a.ts)
        for a in alerts
        if a.state == "firing" and a.metric == metric
    ]


AFTER = MIDNIGHT + 600_000  # 00:10, past the planned surge


def test_the_midnight_surge_moves_no_ratio() -> None:
    # visits lead orders by up to 3 s, so at the jump conversion looks halved for a
    # moment; refunds follow the surge's orders 30 s later, so the refund rate triples
    for seed in range(3):
        alerts = _run(_day(seed, 300, MIDNIGHT - 60_000, surge=True))
        assert [a for a in alerts if a.state == "firing"] == [], seed


def test_a_broken_checkout_drops_conversion_on_its_channel() -> None:
    for seed in range(3):
        alerts = _run(_day(seed, 300, AFTER, checkout=("web", 200, 240)))
        conv = _firing(alerts, "conversion")
        assert [(s, d) for s, d, _ in conv] == [('{"channel": "web"}', "drop")], seed
        assert AFTER + 200_000 < conv[0][2] <= AFTER + 207_000, seed
        orders = _firing(alerts, "orders")  # its orders fall too: told as a count
        assert [(s, d) for s, d, _ in orders] == [('{"channel": "web"}', "drop")], seed


def test_a_traffic_drop_is_not_a_conversion_drop() -> None:
    # shoppers and their orders fall together: the counts alert, conversion does not
    # (its visits lead the orders by seconds at either edge of the step)
    for seed in range(3):
        alerts = _run(_day(seed, 300, AFTER, traffic=("app", 200, 240)))
        assert _firing(alerts, "conversion") == [], seed
        assert ('{"channel": "app"}', "drop") in {(s, d) for s, d, _ in _firing(alerts, "orders")}


def test_refunds_quadrupling_in_one_region_alert_on_that_region() -> None:
    # CN-GD refunds ~0.5 a second, then ~2: each second is thin evidence, so it takes
    # some seconds; the region is judged against the other regions' rate, so its own
    # rise does not raise what it is compared with
    for seed in range(3):
        alerts = _run(_day(seed, 300, AFTER, refunds_x=("CN-GD", 200, 260, 4.0)))
        rr = _firing(alerts, "refund_rate")
        assert [(s, d) for s, d, _ in rr] == [('{"region": "CN-GD"}', "spike")], seed
        assert AFTER + 200_000 < rr[0][2] <= AFTER + 255_000, seed
        assert [a for a in alerts if a.state == "firing" and a.metric != "refund_rate"] == []


def test_a_small_rise_in_a_small_slice_is_not_evidence() -> None:
    # +50 % refunds in a region that refunds ~0.3 a second: a handful of refunds
    for seed in range(3):
        alerts = _run(_day(seed, 300, AFTER, refunds_x=("JP-13", 200, 230, 1.5)))
        assert _firing(alerts, "refund_rate") == [], seed
