"""The catalog guard, fed step by step with the engine's records and sku changes.

Its clock is event time: at each sku_change, the largest `ts` among the records up to
it. Work that waits (an item's variants are judged `settle_ms` after its last change,
so a rename spread over a few SKUs is judged whole; a finding fires `group_wait_ms`
after its first faulty SKU, so one actor's burst is one alert) is kept on a heap by
due time and done when the clock passes it, with the due time as its event time. So
the output does not depend on how the input was cut into batches.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from warroom.alerts.model import Alert
from warroom.guards.catalog.blast import Blast
from warroom.guards.catalog.detect import PriceRule, is_restored, item_verdict, price_verdict
from warroom.guards.catalog.finding import Finding, SkuHit
from warroom.guards.catalog.snapshot import CatalogState, Snapshot, major

NEVER = -(1 << 62)


@dataclass(frozen=True)
class GuardConfig:
    settle_ms: int = 1_000
    group_wait_ms: int = 2_000
    group_interval_ms: int = 600_000  # later faulty SKUs of the same actor join its finding
    mass_window_ms: int = 60_000
    mass_skus: int = 50  # attribute changes by one actor in the window...
    mass_merchants: int = 10  # ...across this many merchants: a mass change
    lookback_ms: int = 30_000
    price: PriceRule = field(default_factory=PriceRule)


@dataclass
class _Pending:
    due: int
    skus: dict[str, tuple[list[str], int]] = field(default_factory=dict)  # reasons, since


class CatalogGuard:
    def __init__(
        self,
        snapshot: Snapshot,
        config: GuardConfig | None = None,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self.cfg = config or GuardConfig()
        self.state = CatalogState(snapshot)
        self.on_alert = on_alert
        self.clock = NEVER
        self.findings: list[Finding] = []
        self.blast = Blast(self.state, self.cfg.lookback_ms)
        self.changes = 0
        self._heap: list[tuple[int, int, str, Any]] = []
        self._seq = 0
        self._item_due: dict[str, int] = {}
        self._since: dict[str, tuple[int, str]] = {}  # sku -> first faulty change ts, actor
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._open: dict[tuple[str, str], Finding] = {}
        self._sku_open: dict[tuple[str, str], Finding] = {}  # (kind, sku) -> finding
        self._mass: dict[str, deque[tuple[int, str]]] = {}
        self._mass_merchants: dict[str, Counter[str]] = {}
        # alerts wait for the end of the step, when the batch's orders are matched
        self._outbox: list[tuple[Finding, str]] = []

    # -- the stream ---------------------------------------------------------------
    def step(self, records: pl.DataFrame | None, changes: list[dict[str, Any]]) -> None:
        for change, (ts, at) in zip(changes, self._clocks(records, changes), strict=True):
            self._advance(at)
            self._apply(change, ts, at)
        if records is not None and records.height:
            self._advance(max(self.clock, int(records["ts"].max())))  # type: ignore[arg-type]
        self.blast.step(records, self.clock)
        self._send()

    def finish(self) -> None:
        """End of input: do every waiting judgement and firing."""
        if self._heap:
            self._advance(max(d for d, *_ in self._heap))
        self._send()

    def _send(self) -> None:
        digits = self.state.snap.rates.base_digits
        for finding, state in self._outbox:
            if self.on_alert is not None:
                self.on_alert(finding.alert(digits, state))
        self._outbox = []

    def _clocks(
        self, records: pl.DataFrame | None, changes: list[dict[str, Any]]
    ) -> list[tuple[int, int]]:
        """(event time of the change, the guard's clock at it): the change's decoded ts,
        and the running max of ts over the records up to it."""
        own = [int(c["ts"]) if isinstance(c.get("ts"), int) else NEVER for c in changes]
        if records is None or records.height == 0 or not changes:
            out, top = [], self.clock
            for t in own:
                top = max(top, t)
                out.append((t if t != NEVER else top, top))
            return out
        pos = records["pos"].to_numpy()
        ts = records["ts"].to_numpy()
        running = np.maximum.accumulate(ts)
        at = np.searchsorted(pos, [int(c["pos"]) for c in changes], side="right") - 1
        out = []
        for i, t in zip(at.tolist(), own, strict=True):
            clock = max(self.clock, t, int(running[i]) if i >= 0 else NEVER)
            # a string ts (RFC 3339) was decoded in the records; its row is the change's
            t = int(ts[i]) if t == NEVER and i >= 0 else t
            out.append((t if t != NEVER else clock, clock))
        return out

    def _advance(self, now: int) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, _, task, key = heapq.heappop(self._heap)
            if task == "item":
                if self._item_due.get(key) == due:
                    del self._item_due[key]
                    self._judge_item(key, due)
            else:
                self._fire(key, due)
        self.clock = max(self.clock, now)

    def _later(self, due: int, task: str, key: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, task, key))

    # -- changes --------------------------------------------------------------------
    def _apply(self, change: dict[str, Any], ts: int, at: int) -> None:
        self.changes += 1
        sku = str(change.get("sku_id"))
        actor = str(change.get("actor", "unknown"))
        attrs_changed, price_changed = self.state.apply(change)
        info = self.state.info(sku)
        if info is None:
            return
        if attrs_changed:
            if sku not in self._since:
                self._since[sku] = (ts, actor)
            else:
                self._since[sku] = (self._since[sku][0], actor)
            if self.state.current_attrs(sku) == info.attrs:
                del self._since[sku]
            self._item_due[info.item] = at + self.cfg.settle_ms
            self._later(at + self.cfg.settle_ms, "item", info.item)
            self._count_mass(actor, info.merchant, at)
        if price_changed:
            reasons = price_verdict(self.state, sku, self.cfg.price)
            if reasons and ("price_error", sku) not in self._sku_open:
                self._flag("price_error", actor, {sku: (reasons, ts)}, at)
        for kind in ("sku_scramble", "price_error"):
            finding = self._sku_open.get((kind, sku))
            if finding is not None and (attrs_changed or price_changed):
                self._check_restored(finding, sku, at)

    def _judge_item(self, item: str, now: int) -> None:
        by_actor: dict[str, dict[str, tuple[list[str], int]]] = {}
        verdict = item_verdict(self.state, item)
        for sku in self.state.item_skus(item):
            if sku not in verdict:  # judged harmless: a later fault counts from its own change
                self._since.pop(sku, None)
        for sku, reasons in verdict.items():
            open_ = self._sku_open.get(("sku_scramble", sku))
            if open_ is not None:
                open_.skus[sku].restored = False
                continue
            since, actor = self._since.get(sku, (now, "unknown"))
            by_actor.setdefault(actor, {})[sku] = (reasons, since)
        for actor, skus in by_actor.items():
            self._flag("sku_scramble", actor, skus, now)

    def _count_mass(self, actor: str, merchant: str, at: int) -> None:
        window = self._mass.setdefault(actor, deque())
        merchants = self._mass_merchants.setdefault(actor, Counter())
        window.append((at, merchant))
        merchants[merchant] += 1
        while window and window[0][0] < at - self.cfg.mass_window_ms:
            _, gone = window.popleft()
            merchants[gone] -= 1
            if not merchants[gone]:
                del merchants[gone]

    def _is_mass(self, actor: str) -> bool:
        return (
            len(self._mass.get(actor, ())) >= self.cfg.mass_skus
            and len(self._mass_merchants.get(actor, ())) >= self.cfg.mass_merchants
        )

    # -- findings ---------------------------------------------------------------------
    def _flag(
        self, kind: str, actor: str, skus: dict[str, tuple[list[str], int]], now: int
    ) -> None:
        finding = self._open.get((kind, actor))
        if finding is not None and now - finding.last_added <= self.cfg.group_interval_ms:
            self._add(finding, skus, now)
            finding.mass = finding.mass or self._is_mass(actor)
            return
        pending = self._pending.get((kind, actor))
        if pending is None:
            pending = self._pending[(kind, actor)] = _Pending(now + self.cfg.group_wait_ms)
            self._later(pending.due, "fire", (kind, actor))
        pending.skus.update(skus)

    def _fire(self, key: tuple[str, str], due: int) -> None:
        pending = self._pending.pop(key)
        kind, actor = key
        first = min(since for _, since in pending.skus.values())
        finding = Finding(kind, actor, first, fired=due, mass=self._is_mass(actor))
        self._open[key] = finding
        self.findings.append(finding)
        self._add(finding, pending.skus, due)
        self._outbox.append((finding, "firing"))

    def _add(self, finding: Finding, skus: dict[str, tuple[list[str], int]], now: int) -> None:
        rates = self.state.snap.rates
        for sku, (reasons, since) in skus.items():
            info = self.state.info(sku)
            assert info is not None
            price, cur = self.state.current_price(sku)
            finding.skus[sku] = SkuHit(
                info.merchant,
                info.item,
                since,
                reasons,
                _values(info.attrs, info.price, info.currency, rates)
                if sku in self.state.snap.skus
                else {"new_sku": True},  # nothing to restore: the snapshot lacks it
                _values(self.state.current_attrs(sku), price, cur, rates),
            )
            self._sku_open[(finding.kind, sku)] = finding
        finding.last_added, finding.dirty = now, True
        self.blast.track(finding, list(skus))

    def _check_restored(self, finding: Finding, sku: str, at: int) -> None:
        hit = finding.skus[sku]
        hit.restored = is_restored(self.state, sku, finding.kind, self.cfg.price)
        finding.dirty = True
        if all(h.restored for h in finding.skus.values()):
            finding.resolved = at
            if self._open.get((finding.kind, finding.actor)) is finding:
                del self._open[(finding.kind, finding.actor)]
            for s in finding.skus:
                if self._sku_open.get((finding.kind, s)) is finding:
                    del self._sku_open[(finding.kind, s)]
            self._outbox.append((finding, "resolved"))


def _values(attrs: dict[str, str], price: int | None, currency: str | None, rates: Any) -> dict:
    out: dict[str, Any] = {"attrs": dict(attrs)}
    if price is not None and currency is not None:
        out["price"] = str(major(price, currency, rates))
        out["currency"] = currency
    return out
