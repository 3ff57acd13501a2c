"""The wall's running figures, kept from finalised one-second cells as the engine emits them.

Totals are exact integers (money in base minor units); they are turned into decimal
strings only when a frame is written. Per-second points are keyed by window start, so a
window that arrives late replaces (corrects) its point on the page instead of appending.
Per currency, money is also kept in that currency's own minor units (the cube's
`currency` grouping set), so the wall can show what was paid in each currency exactly.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Any

import polars as pl

from warroom.engine.cube import CURRENCY_SUMS, GSET_ID
from warroom.engine.engine import MINUTE, SECOND
from warroom.series.metrics import format_money
from warroom.store.db import Store

TOTALS = (
    "gmv",
    "orders",
    "order_lines",
    "visits",
    "pay_attempts",
    "pay_successes",
    "pay_amount",
    "refunds",
    "refund_amount",
    "shipments",
)
POINT = ("gmv", "orders", "pay_attempts", "pay_successes", "refunds", "visits")
DIM_COLS = ("gmv", "orders", "pay_attempts", "pay_successes", "refunds")
TOP_DIMS = ("region", "country", "category", "channel", "method", "campaign")
MONEY = {"gmv", "pay_amount", "refund_amount"}
PROVINCES_KEPT = 40  # every province of the China map (34 codes), with room to spare
ABROAD_KEPT = 12  # overseas regions listed beside the world map


class LiveWall:
    def __init__(
        self, digits: int, keep_seconds: int = 600, minor_digits: Mapping[str, int] | None = None
    ) -> None:
        self.digits = digits
        self.minor_digits = dict(minor_digits or {})  # currency -> its minor digits
        self.keep = keep_seconds
        self.lock = threading.Lock()
        self.totals: Counter[str] = Counter()
        self.dims: dict[str, dict[str, Counter[str]]] = {d: {} for d in TOP_DIMS}
        self.currencies: dict[str, Counter[str]] = {}
        self.points: OrderedDict[int, dict[str, int]] = OrderedDict()
        self.changed: set[int] = set()
        self.event_time = 0  # start of the newest finalised window
        self.version = 0  # bumps whenever a figure changes

    def add(self, cells: pl.DataFrame, points: bool = True) -> None:
        """Labelled cells (engine.label); one-second ones also become chart points."""
        if cells.height == 0:
            return
        market = cells.filter(pl.col("gset") == 0)
        per_dim = {
            d: cells.filter(pl.col("gset") == GSET_ID[(d,)])
            .group_by("k1")
            .agg(pl.col(c).sum() for c in DIM_COLS)
            for d in TOP_DIMS
        }
        per_currency = (
            cells.filter(pl.col("gset") == GSET_ID[("currency",)])
            .group_by("k1")
            .agg(pl.col(c).sum() for c in CURRENCY_SUMS)
        )
        with self.lock:
            for row in market.iter_rows(named=True):
                for c in TOTALS:
                    self.totals[c] += row[c]
                self.event_time = max(self.event_time, row["win"])
                if not points:
                    continue
                point = self.points.setdefault(row["win"], dict.fromkeys(POINT, 0))
                for c in POINT:
                    point[c] += row[c]
                self.changed.add(row["win"])
            for d, frame in per_dim.items():
                table = self.dims[d]
                for row in frame.iter_rows(named=True):
                    table.setdefault(row["k1"], Counter()).update({c: row[c] for c in DIM_COLS})
            for row in per_currency.iter_rows(named=True):
                if row["k1"] == "unknown":  # visits carry no currency
                    continue
                counter = self.currencies.setdefault(row["k1"], Counter())
                counter.update({c: row[c] for c in CURRENCY_SUMS})
            self.points = OrderedDict(sorted(self.points.items()))
            while len(self.points) > self.keep:
                self.points.popitem(last=False)
            self.version += 1

    def load(self, store: Store) -> None:
        """The day so far from the store: closed minutes, then the seconds after them."""
        minutes = store.cells(MINUTE)
        after = None
        if minutes.height:
            last = int(minutes["win"].max())  # type: ignore[arg-type]
            after = last + MINUTE
            self.add(minutes, points=False)
            # event time is the newest second, not the start of the last closed minute
            # (campaign progress is judged up to it)
            tail = store.cells(SECOND, last, after - 1)
            if tail.height:
                self.event_time = max(self.event_time, int(tail["win"].max()))  # type: ignore[arg-type]
        self.add(store.cells(SECOND, after))

    # -- frames -----------------------------------------------------------------
    def take_changes(self) -> list[dict[str, Any]]:
        with self.lock:
            out = [self._point(w) for w in sorted(self.changed) if w in self.points]
            self.changed = set()
        return out

    def series(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._point(w) for w in self.points]

    def figures(self, top: int = 12) -> dict[str, Any]:
        with self.lock:
            t = dict(self.totals)
            dims = {d: self._top(d, top) for d in TOP_DIMS if d != "region"}
            dims["region"] = self._regions()
            currencies = self._currencies(t.get("gmv", 0))
            event_time = self.event_time
        return {
            "event_time": event_time,
            "totals": {c: self._fmt(c, t.get(c, 0)) for c in TOTALS},
            "payment_success_rate": _rate(t.get("pay_successes", 0), t.get("pay_attempts", 0)),
            "refund_rate": _rate(t.get("refunds", 0), t.get("orders", 0)),
            "dims": dims,
            "currencies": currencies,
        }

    def _regions(self) -> list[dict[str, Any]]:
        """Every province for the China map, and the largest overseas regions for the list
        beside the world map (a plain top-N by GMV would leave both out)."""
        home = [k for k in self.dims["region"] if k.startswith("CN-")]
        abroad = [k for k in self.dims["region"] if not k.startswith("CN-") and k != "unknown"]
        keys = self._by_gmv("region", home)[:PROVINCES_KEPT]
        keys += self._by_gmv("region", abroad)[:ABROAD_KEPT]
        return self._rows("region", self._by_gmv("region", keys))

    def _currencies(self, total_gmv: int) -> list[dict[str, Any]]:
        """Each currency's GMV, payments and refunds in its own units (exact strings),
        beside the base-currency equivalent and its share of the base GMV."""
        out = []
        for code, c in sorted(self.currencies.items(), key=lambda kv: (-kv[1]["gmv"], kv[0])):
            d = self.minor_digits.get(code, 2)
            out.append(
                {
                    "currency": code,
                    "digits": d,
                    "gmv": format_money(c["gmv_local"], d),
                    "payments": format_money(c["pay_amount_local"], d),
                    "refunds": format_money(c["refund_amount_local"], d),
                    "gmv_base": format_money(c["gmv"], self.digits),
                    "payments_base": format_money(c["pay_amount"], self.digits),
                    "refunds_base": format_money(c["refund_amount"], self.digits),
                    "orders": c["orders"],
                    "share": _rate(c["gmv"], total_gmv),
                }
            )
        return out

    def _by_gmv(self, dim: str, keys: list[str]) -> list[str]:
        table = self.dims[dim]
        return sorted(keys, key=lambda k: (-table[k]["gmv"], k))

    def _top(self, dim: str, n: int) -> list[dict[str, Any]]:
        return self._rows(dim, self._by_gmv(dim, list(self.dims[dim]))[:n])

    def _rows(self, dim: str, keys: list[str]) -> list[dict[str, Any]]:
        rows = [(k, self.dims[dim][k]) for k in keys]
        return [
            {
                "key": key,
                "gmv": format_money(c["gmv"], self.digits),
                "orders": c["orders"],
                "payments": c["pay_attempts"],
                "payment_success_rate": _rate(c["pay_successes"], c["pay_attempts"]),
                "refunds": c["refunds"],
            }
            for key, c in rows
        ]

    def _point(self, win: int) -> dict[str, Any]:
        p = self.points[win]
        return {"t": win, **{c: self._fmt(c, p[c]) for c in POINT}}

    def _fmt(self, col: str, value: int) -> Any:
        return format_money(value, self.digits) if col in MONEY else value


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None
