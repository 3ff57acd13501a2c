"""Campaign progress from stored cells: actuals against targets and against the plan.

Each campaign's scope is answered by one materialised grouping set (series.query's
`grouping_set`): `campaign`, `category`, `region`, `merchant`, or the pairs
campaign×category, campaign×region, region×category. Cells are read once per
evaluation for every campaign. Beside the totals: GMV by region (where a grouping set
holds the scope and the region) and by currency in each currency's own units (the
campaign×currency grouping set, so only for scopes naming a campaign).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from warroom.campaigns.model import Campaign, Clock, planned_share
from warroom.engine.cube import CURRENCY_SUMS
from warroom.series.metrics import format_money
from warroom.series.query import QueryError, grouping_set
from warroom.store.db import Store

SECOND, MINUTE, HOUR = 1_000, 60_000, 3_600_000
# Reading 1-second cells of a long span is slow (and they are kept 6 h only): beyond this
# span, progress is read from the 1-minute cells.
SECOND_SPAN = 15 * MINUTE
SUMMED = ("gmv", "orders", "buyers", "visits", "refunds", "refund_amount", "sku_changes")
BUCKETS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600)  # seconds, for charts
# the figure judged against the plan: the first target a campaign sets, in this order
PRIMARY = ("gmv", "orders", "buyers")


@dataclass
class Progress:
    campaign: Campaign
    start: int  # event-time ms
    end: int
    now: int
    actual: dict[str, int] = field(default_factory=dict)  # SUMMED columns, integers
    series: list[tuple[int, int]] = field(default_factory=list)  # bucket start, primary sum
    bucket_ms: int = SECOND
    plan: list[tuple[int, float]] = field(default_factory=list)
    hours: list[dict[str, Any]] = field(default_factory=list)
    state: str = "active"  # from the command layer's campaign table
    digits: int = 2
    minor_digits: dict[str, int] = field(default_factory=dict)  # currency -> its digits
    # CURRENCY_SUMS per currency (None: no grouping set holds this scope's campaign)
    currencies: list[dict[str, Any]] | None = None
    currency_cover: str = "scope"  # "campaign": all the campaign's orders, not its filters
    regions: list[dict[str, Any]] | None = None  # gmv and orders per region

    # -- derived ----------------------------------------------------------------
    @property
    def primary(self) -> str:
        t = self.campaign.targets
        return next((m for m in PRIMARY if getattr(t, m) is not None), "orders")

    def target(self, metric: str) -> float | None:
        v = getattr(self.campaign.targets, metric)
        return None if v is None else float(v)

    def value(self, metric: str) -> float | None:
        a = self.actual
        if metric == "gmv":
            return a.get("gmv", 0) / 10**self.digits
        if metric == "conversion":
            return a["orders"] / a["visits"] if a.get("visits") else None
        if metric == "refund_rate":
            return a["refunds"] / a["orders"] if a.get("orders") else None
        return float(a.get(metric, 0))

    @property
    def elapsed(self) -> float:
        span = self.end - self.start
        return min(1.0, max(0.0, (self.now - self.start) / span))

    @property
    def planned_share(self) -> float:
        return planned_share(self.plan, min(self.now, self.end))

    @property
    def status(self) -> str:
        if self.now < self.start:
            return "upcoming"
        return "ended" if self.now >= self.end else "live"

    def vs_plan(self) -> float | None:
        """(actual − planned so far) / planned so far for the primary figure."""
        target = self.target(self.primary)
        actual = self.value(self.primary)
        expected = (target or 0) * self.planned_share
        if not expected or actual is None:
            return None
        return (actual - expected) / expected

    def behind(self) -> bool:
        gap = self.vs_plan()
        return gap is not None and gap < -self.campaign.tolerance

    def to_json(self, with_series: bool = False) -> dict[str, Any]:
        c = self.campaign
        targets: dict[str, Any] = {}
        for m in ("gmv", "orders", "buyers", "conversion", "refund_rate"):
            tgt = self.target(m)
            if tgt is None:
                continue
            val = self.value(m)
            row: dict[str, Any] = {"target": tgt, "actual": val}
            if m in ("conversion", "refund_rate"):
                ok = val is None or (val >= tgt if m == "conversion" else val <= tgt)
                row["met"] = ok
            else:
                row["progress"] = (val or 0) / tgt
                row["planned"] = tgt * self.planned_share
            targets[m] = row
        gap = self.vs_plan()
        out: dict[str, Any] = {
            "id": c.id,
            "name": c.name,
            "commander": c.commander,
            "scope": c.scope.model_dump(exclude_defaults=True),
            "overseas": c.overseas,
            "window": {"start": self.start, "end": self.end, "timezone": c.window.timezone},
            "status": self.status,
            "state": self.state,
            "paused": self.state == "paused",
            "primary": self.primary,
            "elapsed": round(self.elapsed, 6),
            "planned_share": round(self.planned_share, 6),
            "vs_plan": None if gap is None else round(gap, 6),
            "behind": self.behind(),
            "tolerance": c.tolerance,
            "gmv": format_money(self.actual.get("gmv", 0), self.digits),
            "orders": self.actual.get("orders", 0),
            "buyers": self.actual.get("buyers", 0),
            "refunds": self.actual.get("refunds", 0),
            "refund_amount": format_money(self.actual.get("refund_amount", 0), self.digits),
            "targets": targets,
            "by_currency": self.currencies_json(),
            "by_region": self.regions_json(),
        }
        if with_series:
            out["series"] = self.series_json()
            out["hours"] = self.hours
        return out

    def currencies_json(self) -> dict[str, Any] | None:
        """GMV, payments and refunds per currency: exact strings in the currency's own
        units beside the base equivalent and its share of them all."""
        if self.currencies is None:
            return None
        total = sum(r["gmv"] for r in self.currencies)
        rows = []
        for r in self.currencies:
            d = self.minor_digits.get(r["currency"], 2)
            rows.append(
                {
                    "currency": r["currency"],
                    "digits": d,
                    "gmv": format_money(r["gmv_local"], d),
                    "gmv_base": format_money(r["gmv"], self.digits),
                    "share": round(r["gmv"] / total, 6) if total else None,
                    "payments": format_money(r["pay_amount_local"], d),
                    "payments_base": format_money(r["pay_amount"], self.digits),
                    "refunds": format_money(r["refund_amount_local"], d),
                    "refunds_base": format_money(r["refund_amount"], self.digits),
                    "orders": r["orders"],
                }
            )
        c = self.campaign
        note = (
            "the campaign's scope"
            if self.currency_cover == "scope"
            else f"every order of campaign {c.scope.campaign} in the window: no grouping set "
            "keeps its category or region filter with the currency"
        )
        return {"covers": self.currency_cover, "note": note, "rows": rows}

    def regions_json(self) -> list[dict[str, Any]] | None:
        if self.regions is None:
            return None
        return [
            {
                "region": r["region"],
                "gmv": format_money(r["gmv"], self.digits),
                "orders": r["orders"],
            }
            for r in self.regions
        ]

    def series_json(self) -> list[dict[str, Any]]:
        """Cumulative actual and planned primary figure at the end of each bucket."""
        target = self.target(self.primary) or 0.0
        scale = 10**self.digits if self.primary == "gmv" else 1
        out, total = [], 0
        for t, v in self.series:
            total += v
            at = min(t + self.bucket_ms, self.end)
            out.append(
                {
                    "t": t,
                    "actual": total / scale,
                    "planned": target * planned_share(self.plan, at),
                }
            )
        return out


def evaluate(
    store: Store,
    campaigns: list[Campaign],
    clock: Clock | None = None,
    now: int | None = None,
    digits: int = 2,
    states: dict[str, str] | None = None,
    period: int | None = None,
    minor_digits: Mapping[str, int] | None = None,
) -> list[Progress]:
    """Progress of every campaign at event time `now` (default: the store's latest second)."""
    clock = clock or Clock()
    if not campaigns:
        return []
    spans = {c.id: clock.window(c) for c in campaigns}
    t0 = min(s for s, _ in spans.values())
    t1 = max(e for _, e in spans.values())
    if now is None:
        now = latest(store)
    if period is None:  # seconds while cheap and kept; closed minutes beyond that
        period = SECOND if now - t0 <= SECOND_SPAN else MINUTE
    if period != SECOND:
        now = now // period * period  # only closed windows are stored: judge up to there
    cells = store.cells(period, t0, min(t1, now) - 1)
    states = states or {}
    out = []
    for c in campaigns:
        start, end = spans[c.id]
        p = Progress(c, start, end, now, plan=clock.plan(c), digits=digits)
        p.minor_digits = dict(minor_digits or {})
        p.state = states.get(c.id, "active")
        rows = _scoped(cells, c, start, min(end, now))
        p.currencies, p.currency_cover = _by_currency(cells, c, start, min(end, now))
        p.regions = _by_region(cells, c, start, min(end, now))
        p.actual = {k: int(rows[k].sum()) if rows.height else 0 for k in SUMMED}
        p.bucket_ms = _bucket(end - start, period)
        if rows.height:
            b = rows.group_by((pl.col("win") // p.bucket_ms * p.bucket_ms).alias("t")).agg(
                pl.col(p.primary).sum()
            )
            p.series = [(int(t), int(v)) for t, v in b.sort("t").iter_rows()]
        p.hours = _hours(p, rows, clock)
        out.append(p)
    return out


def latest(store: Store) -> int:
    """Event time the store has finalised up to: the end of its last stored window."""
    for period in (SECOND, MINUTE, HOUR):
        cells = store.cells(period)
        if cells.height:
            return int(cells["win"].max()) + period  # type: ignore[arg-type]
    return 0


def _scoped(cells: pl.DataFrame, c: Campaign, start: int, stop: int) -> pl.DataFrame:
    if cells.height == 0:
        return pl.DataFrame(schema={"win": pl.Int64, **dict.fromkeys(SUMMED, pl.Int64)})
    dims = c.scope.dims()
    gid, stored = grouping_set(tuple(dims))
    rows = cells.filter((pl.col("gset") == gid) & (pl.col("win") >= start) & (pl.col("win") < stop))
    for key, dim in zip(("k1", "k2"), stored, strict=False):
        rows = rows.filter(pl.col(key).is_in(dims[dim]))
    return rows.select("win", *SUMMED)


def _breakdown(
    cells: pl.DataFrame,
    scope: dict[str, list[str] | None],
    by: str,
    start: int,
    stop: int,
    sums: tuple[str, ...],
) -> list[dict[str, Any]] | None:
    """`sums` per value of `by` within `scope` (dimension -> accepted values, None: any),
    from the one grouping set holding them all; None when no such set is kept."""
    try:
        gid, stored = grouping_set(tuple(scope))
    except QueryError:
        return None
    if cells.height == 0:
        return []
    rows = cells.filter((pl.col("gset") == gid) & (pl.col("win") >= start) & (pl.col("win") < stop))
    for key, dim in zip(("k1", "k2"), stored, strict=False):
        values = scope[dim]
        if values is not None:
            rows = rows.filter(pl.col(key).is_in(values))
    key = ("k1", "k2")[stored.index(by)]
    out = rows.group_by(pl.col(key).alias(by)).agg(pl.col(c).sum() for c in sums)
    out = out.filter(pl.col(by) != "unknown").sort(["gmv", by], descending=[True, False])
    return list(out.iter_rows(named=True))


def _by_currency(
    cells: pl.DataFrame, c: Campaign, start: int, stop: int
) -> tuple[list[dict[str, Any]] | None, str]:
    """Per currency for the scope itself when a grouping set holds it with the currency
    (a campaign alone); else for the whole campaign named by the scope, said as such."""
    scope: dict[str, list[str] | None] = {**c.scope.dims(), "currency": None}
    got = _breakdown(cells, scope, "currency", start, stop, CURRENCY_SUMS)
    if got is not None or not c.scope.campaign:
        return got, "scope"
    whole: dict[str, list[str] | None] = {"campaign": [c.scope.campaign], "currency": None}
    return _breakdown(cells, whole, "currency", start, stop, CURRENCY_SUMS), "campaign"


def _by_region(
    cells: pl.DataFrame, c: Campaign, start: int, stop: int
) -> list[dict[str, Any]] | None:
    scope: dict[str, list[str] | None] = {"region": None, **c.scope.dims()}
    return _breakdown(cells, scope, "region", start, stop, ("gmv", "orders"))


def _bucket(span_ms: int, period: int) -> int:
    for s in BUCKETS:
        ms = s * 1000
        if ms >= period and span_ms / ms <= 150:
            return ms
    return BUCKETS[-1] * 1000


def _hours(p: Progress, rows: pl.DataFrame, clock: Clock) -> list[dict[str, Any]]:
    """Each clock hour of the window (in its zone): actual against what the plan asked of it."""
    w = p.campaign.window
    start, end = w.local(w.start), w.local(w.end)
    at = start.replace(minute=0, second=0, microsecond=0)
    target = p.target(p.primary) or 0.0
    scale = 10**p.digits if p.primary == "gmv" else 1
    out = []
    while at < end:
        nxt = at + timedelta(hours=1)
        h0, h1 = clock.ms(max(at, start)), clock.ms(min(nxt, end))
        if h0 >= p.now:
            break
        stop = min(h1, p.now)
        actual = (
            int(rows.filter((pl.col("win") >= h0) & (pl.col("win") < stop))[p.primary].sum())
            / scale
            if rows.height
            else 0.0
        )
        planned = target * (planned_share(p.plan, stop) - planned_share(p.plan, h0))
        out.append(
            {
                "hour": at.strftime("%H:00"),
                "start": h0,
                "end": h1,
                "actual": actual,
                "planned": planned,
                "delta": actual - planned,
                "won": actual >= planned,
                "complete": h1 <= p.now,
            }
        )
        at = nxt
    return out


def decimal_gmv(p: Progress) -> Decimal:
    return Decimal(p.actual.get("gmv", 0)).scaleb(-p.digits)
