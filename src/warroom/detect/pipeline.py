"""The watch: finalised 1-second cells in, alerts out, in event time.

Per second: every series of every watched metric is scored at once (monitors.py);
slices that alarm are mapped to the scope that explains them (rootcause.py); one
alert opens per (metric, explaining scope, direction) and resolves, with the same
id, when that series is quiet again. A slice whose move an open alert explains may
alert on its own only once it has been quiet again. Nothing reads the wall clock, so
a replay writes the same alerts every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from warroom.alerts.model import Alert, alert_id, scope_text
from warroom.detect.baseline import Curve, Plan
from warroom.detect.monitors import CountMonitor, RatioMonitor, Tick
from warroom.detect.planned import PlanMultipliers, PlannedCurve
from warroom.detect.protocol import ALARM
from warroom.detect.rootcause import Candidate, comoves, covers, explain_all, related
from warroom.detect.series_index import SeriesIndex
from warroom.engine.cube import GSETS, VIEW_ONLY

SECOND = 1_000
Sink = Callable[[Alert], None]


@dataclass(frozen=True)
class Watched:
    monitor: Callable[[], CountMonitor | RatioMonitor]
    directions: tuple[int, ...]  # +1 spike, -1 drop
    min_effect: float  # smallest deviation worth an alert, in the metric's unit


WATCHED: dict[str, Watched] = {
    "orders": Watched(lambda: CountMonitor("orders", "orders"), (-1, 1), 8.0),
    # visits come in bursts (a shopper browses many pages): judged more coarsely
    "visits": Watched(lambda: CountMonitor("visits", "visits", h=24.0), (-1, 1), 60.0),
    "payment_success_rate": Watched(
        lambda: RatioMonitor("payment_success_rate", "pay_successes", "pay_attempts"), (-1,), 4.0
    ),
    # orders of the visits of the last seconds (shoppers browse, then buy: visits lead
    # orders, so the trials are an EW of visits); a drop only (checkout broken)
    "conversion": Watched(
        lambda: RatioMonitor(
            "conversion",
            "orders",
            "visits",
            den_decay=0.5,
            dispersion=True,
            step=0.2,
            blind_in_plan=True,
            sides=(-1,),
            warmup=30,
            den_now=True,
        ),
        (-1,),
        8.0,
    ),
    # refunds of the orders of the last minutes (a refund undoes an order placed long
    # before, so the trials are an EW of orders), each slice against the rest of its
    # grouping set (the market's own rate follows the day's orders by minutes); a rise
    "refund_rate": Watched(
        lambda: RatioMonitor(
            "refund_rate",
            "refunds",
            "orders",
            den_decay=0.99,
            rho_spike=2.0,
            dispersion=True,
            step=0.2,
            relative=True,
            sides=(1,),
            prior_dispersion=1.5,  # refunds are single events, less bursty than visits
            keep=0.95,
            warmup=30,
        ),
        (1,),
        4.0,
    ),
}
COLUMNS = ("orders", "visits", "pay_successes", "pay_attempts", "refunds")


@dataclass
class Open:
    alert: Alert
    series: int
    quiet: int = 0  # consecutive quiet seconds


@dataclass
class WatchConfig:
    metrics: tuple[str, ...] = tuple(WATCHED)
    elevated: float = 0.2  # scores that may explain an alarm
    resolve_below: float = 0.1
    resolve_after: int = 3  # quiet seconds before an alert resolves
    max_gap_s: int = 600  # empty seconds filled with zeros between cells
    comove_ms: int = 60_000  # a disjoint slice moving this soon after an alert: same move
    plan: Plan | None = None  # default: the Double-11 00:00 surge
    curves: dict[str, Curve] = field(default_factory=dict)  # metric -> rehearsal curve
    campaigns: list[PlannedCurve] = field(default_factory=list)  # planned campaign curves


# What a checkpointed watch leaves out: callbacks into its process, and its settings.
NOT_STATE = ("sink", "on_second", "config")


@dataclass
class Watch:
    sink: Sink
    config: WatchConfig = field(default_factory=WatchConfig)
    on_second: Callable[[int], None] | None = None  # event time reached (the alert book's tick)

    def __post_init__(self) -> None:
        self.index = SeriesIndex()
        self.monitors = {m: WATCHED[m].monitor() for m in self.config.metrics}
        for metric, curve in self.config.curves.items():
            mon = self.monitors.get(metric)
            if isinstance(mon, CountMonitor):
                mon.market.curve = curve  # last year's shape instead of Holt's
        self.open: dict[tuple[str, int, int], Open] = {}  # (metric, series, direction)
        # (metric, direction) -> series whose alarm an open alert already explains;
        # they may alert on their own only after their score has fallen back below
        # `elevated` (hysteresis): the tail of an explained move is not a new move
        self.spent: dict[tuple[str, int], np.ndarray] = {}
        self.planner = PlanMultipliers(list(self.config.campaigns))
        self.last_win: int | None = None
        self.first_win: int | None = None
        self.last_order_win: int | None = None  # for evaluation: when the sale closed
        self.fired: list[Alert] = []
        self._group_n: int = -1
        self._group_cache: dict[tuple[str, ...], np.ndarray] = {}

    # -- input --------------------------------------------------------------------
    def process(self, cells: pl.DataFrame) -> None:
        """Labelled 1-second cells (k1/k2 as strings), windows in any order within
        the frame but never older than a window already processed."""
        if cells.height == 0:
            return
        watched = pl.col("k1").is_not_null() & ~pl.col("gset").is_in(list(VIEW_ONLY))
        # a canonical row order: series are indexed in order of first appearance, and sums
        # across series must not depend on how the engine happened to order a second
        cells = cells.filter(watched).sort(["win", "gset", "k1", "k2"])
        wins = cells["win"].to_numpy()
        values = {c: cells[c].to_numpy().astype(float) for c in COLUMNS}
        bounds = np.flatnonzero(np.diff(wins)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(wins)], strict=True):
            win = int(wins[lo])
            if self.last_win is not None and win <= self.last_win:
                continue  # a window is final once; never judged twice
            if self.last_win is not None:
                gap = (win - self.last_win) // SECOND - 1
                n = len(self.index)
                for k in range(1, min(gap, self.config.max_gap_s) + 1):
                    self._tick(self.last_win + k * SECOND, {c: np.zeros(n) for c in COLUMNS})
            # A series is born at its first second, whatever else came in this frame: its
            # baselines count the market from then on, so they must not depend on how the
            # seconds were cut into frames (the engine's batches).
            idx = self.index.index(cells.slice(lo, hi - lo))
            n = len(self.index)
            for mon in self.monitors.values():
                mon.resize(n)
            cols = {c: np.zeros(n) for c in COLUMNS}
            for c in COLUMNS:
                np.add.at(cols[c], idx, values[c][lo:hi])
            self._tick(win, cols)

    # -- one second -----------------------------------------------------------------
    def _tick(self, win: int, cols: dict[str, np.ndarray]) -> None:
        self.last_win = win
        if self.first_win is None:
            self.first_win = win
        if self.config.plan is None:
            self.config.plan = Plan.double_eleven(win)
        root = self._root()
        if root is None:
            return
        if cols["orders"][root] > 0:
            self.last_order_win = win
        planned = self.config.plan.planned(win)
        ts = win + SECOND  # the second is known when it ends
        # the 00:00 jump is the market's plan; a campaign opening with it adds nothing
        mult = None if planned else self._multipliers(root, win)
        for metric, mon in self.monitors.items():
            moved = [o.series for (m, _, _), o in self.open.items() if m == metric]
            plan = mult if isinstance(mon, CountMonitor) else None
            tick = mon.step(cols, root, win, planned, self._groups(), moved, plan)
            self._resolve(metric, tick, ts, root)
            self._fire(metric, tick, ts, root)
        if self.on_second is not None:
            self.on_second(ts)

    def set_campaigns(self, curves: list[PlannedCurve]) -> None:
        """New planned campaign curves (the server re-reads its campaign book)."""
        self.config.campaigns = list(curves)
        self.planner = PlanMultipliers(list(curves))

    def _multipliers(self, root: int, win: int) -> np.ndarray | None:
        """The campaigns' planned multiplier of every series now, from the orders'
        learnt plan-free masses (visits carry no campaign: they get the market's)."""
        if not self.planner.curves:
            return None
        mon = next((m for m in self.monitors.values() if isinstance(m, CountMonitor)), None)
        if mon is None:
            return None
        return self.planner(self.index, self._groups(), root, mon.share.sx, mon.share.sm, win)

    def _finer(self, a: Candidate, b: Candidate) -> bool:
        """a's grouping set splits the market into more slices than b's."""
        groups = self._groups()
        size = {g: len(ix) for g, ix in groups.items()}
        ga, gb = (GSETS[self.index.gset[c.index]] for c in (a, b))
        return size.get(ga, 0) > size.get(gb, 0)

    def _groups(self) -> dict[tuple[str, ...], np.ndarray]:
        """Series of each grouping set but the whole market (cached until it grows)."""
        if self._group_n != len(self.index):
            gs = np.array(self.index.gset)
            ok = ~self.index.unknown
            self._group_cache = {
                GSETS[g]: np.flatnonzero((gs == g) & ok) for g in np.unique(gs).tolist() if g
            }
            self._group_n = len(self.index)
        return self._group_cache

    def _root(self) -> int | None:
        for i, scope in enumerate(self.index.scopes):
            if not scope:
                return i
        return None

    def _fire(self, metric: str, tick: Tick, ts: int, root: int) -> None:
        w = WATCHED[metric]
        eligible = ~self.index.unknown
        n = len(tick.score)
        for d in w.directions:
            dev = d * tick.deviation
            same = eligible & (tick.direction == d) & (dev > 0)
            up = same & (tick.score >= self.config.elevated)
            spent = self.spent.get((metric, d), np.zeros(0, dtype=bool))
            spent = np.concatenate([spent, np.zeros(n - len(spent), dtype=bool)]) & up
            self.spent[(metric, d)] = spent
            pool = np.flatnonzero(up)
            cands = {
                i: Candidate(int(i), self.index.scopes[i], float(dev[i]), float(tick.score[i]))
                for i in pool
            }
            opened = [
                Candidate(o.series, self.index.scopes[o.series], float(dev[o.series]), 1.0)
                for (m, _, dd), o in self.open.items()
                if m == metric and dd == d
            ]
            recent = [
                c
                for c in opened
                if ts - self.open[(metric, c.index, d)].alert.ts <= self.config.comove_ms
            ]
            for c in cands.values():
                if not spent[c.index] and self._explained(c, opened, recent):
                    spent[c.index] = True
            trig = np.flatnonzero(same & (tick.score >= ALARM) & (dev >= w.min_effect) & ~spent)
            if len(trig) == 0:
                continue
            fresh = [cands[i] for i in trig if not any(covers(o, cands[i]) for o in opened)]
            if not fresh:
                continue
            chosen = explain_all(fresh, cands.values(), finer=self._finer)
            size = {g: len(ix) for g, ix in self._groups().items()}
            chosen.sort(key=lambda c: -size.get(GSETS[self.index.gset[c.index]], 0))
            for c in chosen:  # the finest first: it is the scope a co-moving one folds into
                if any(covers(o, c) for o in opened):
                    continue
                if any(comoves(o, c) and not self._finer(c, o) for o in recent):
                    continue
                alert = self._alert(metric, c.index, d, tick, ts)
                self.open[(metric, c.index, d)] = Open(alert, c.index)
                opened.append(c)
                self._emit(alert)
                recent.append(c)

    def _explained(self, c: Candidate, opened: list[Candidate], recent: list[Candidate]) -> bool:
        """An open alert stands for c's move: c is its parent or child, or moved with it
        from a disjoint dimension. (An overlapping slice is not: which of two overlaps
        is the scope depends on which moved more, so it is judged afresh each second.)"""
        if any(o.index != c.index and related(o.scope, c.scope) for o in opened):
            return True
        return any(comoves(o, c) and not self._finer(c, o) for o in recent)

    def _resolve(self, metric: str, tick: Tick, ts: int, root: int) -> None:
        for key, o in list(self.open.items()):
            if key[0] != metric:
                continue
            i = o.series
            quiet = tick.score[i] < self.config.resolve_below or tick.direction[i] != key[2]
            o.quiet = o.quiet + 1 if quiet else 0
            if o.quiet >= self.config.resolve_after:
                del self.open[key]
                self._emit(o.alert.resolved(ts, _num(tick.observed[i]), _num(tick.expected[i])))

    def _alert(self, metric: str, i: int, d: int, tick: Tick, ts: int) -> Alert:
        scope = self.index.scope_dict(i)
        direction = "spike" if d > 0 else "drop"
        obs, exp = _num(tick.observed[i]), _num(tick.expected[i])
        deep = obs <= 0.2 * exp if WATCHED[metric].min_effect >= 8 else obs <= 0.5 * exp
        severity = "critical" if (d < 0 and deep) or not scope else "warning"
        summary = (
            f"{metric.replace('_', ' ')} {direction} in {scope_text(scope)}: "
            f"{obs:.4g} vs {exp:.4g} expected"
        )
        return Alert(
            id=alert_id(metric, scope, direction, ts),
            state="firing",
            ts=ts,
            source="kpi",
            metric=metric,
            scope=scope,
            direction=direction,
            observed=obs,
            expected=exp,
            score=round(float(tick.score[i]), 4),
            severity=severity,
            summary=summary,
        )

    def _emit(self, alert: Alert) -> None:
        self.fired.append(alert)
        self.sink(alert)


def _num(v: float) -> float:
    return round(float(v), 6) if np.isfinite(v) else 0.0


def attach(runner, path, campaigns: list[PlannedCurve] | None = None) -> Watch:  # type: ignore[no-untyped-def]
    """Watch a `Runner`'s finalised seconds and write alerts to `path` as they happen.

    The watch's state and the file's length checkpoint with the engine: a run resumed
    after a crash continues both from the checkpoint, so the file ends as a clean
    run's would.
    """
    from warroom.alerts.model import AlertLog
    from warroom.participants import CheckpointedFile, Pickled

    out = CheckpointedFile(path)
    watch = Watch(AlertLog(out), WatchConfig(campaigns=list(campaigns or [])))
    runner.join("watch", Pickled(watch, skip=NOT_STATE, out=out))
    previous = runner.on_step

    def on_step(step) -> None:  # type: ignore[no-untyped-def]
        if previous is not None:
            previous(step)
        cells = step.cells.get(SECOND)
        if cells is not None and cells.height:
            watch.process(runner.engine.label(cells))

    runner.on_step = on_step
    return watch
