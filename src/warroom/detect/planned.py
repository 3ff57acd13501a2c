"""What a campaign's planned curve tells the watch: the surge to expect, per series.

A campaign plans its cumulative share of target through its window (issue 8); the
slope of that curve is its planned rate. Each series of the cube gets a multiplier
now: the campaign's own slices (its "core": the cells of the grouping set that
answers its scope) get the planned rate over its recent planned rate (below), 0
outside the window (nothing is expected, so nothing is judged); every other series gets
1 + (share of the core inside it) x (that multiplier - 1), the share read from the
learnt (plan-free) masses of the cube, assuming independence across dimensions the
two do not share. So the market expects a campaign's 20:00 peak scaled by the
campaign's share, and a region expects it by the campaign's share of that region.

Count monitors divide what their baselines learn by it and multiply what they expect
by it (`CountMonitor.step`): a planned surge is the plan, and a planned surge that
does not come is a shortfall.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise, product

import numpy as np

from warroom.detect.series_index import SeriesIndex
from warroom.engine.cube import GSETS

SMOOTH_MS = 60_000


@dataclass(frozen=True)
class PlannedCurve:
    """A campaign's plan: its scope (dimension -> accepted values) and its cumulative
    planned share at event times (ms), from (window start, 0) to (window end, 1)."""

    name: str
    scope: dict[str, tuple[str, ...]]
    points: tuple[tuple[int, float], ...]

    def multiplier(self, ts: int) -> float:
        """Planned rate at ts over the rate the window opens with; 0 outside it.

        The curve is piecewise linear, so its rate is a step per segment. A plan says
        "about this much by 20:00", not that the rate jumps at 20:00 sharp, so each
        step is a ramp over `SMOOTH_MS` (at most half of either segment beside it)."""
        pts = self.points
        t0, t1 = pts[0][0], pts[-1][0]
        if not t0 <= ts < t1 or t1 <= t0:
            return 0.0
        segs = [(a, b, (sb - sa) / (b - a)) for (a, sa), (b, sb) in pairwise(pts) if b > a]
        xs: list[float] = [float(t0)]
        ys: list[float] = [segs[0][2]]
        for (a, b, r), (_, b2, r2) in pairwise(segs):
            w = min(SMOOTH_MS, (b - a) / 2, (b2 - b) / 2)
            xs += [b - w / 2, b + w / 2]
            ys += [r, r2]
        xs.append(float(t1))
        ys.append(segs[-1][2])
        # relative to the rate the window opens with (so the slice's plan-free counts
        # are its real ones until the plan says otherwise), or to its mean rate
        ref = ys[0] if ys[0] > 0 else 1.0 / (t1 - t0)
        return float(np.interp(ts, xs, ys)) / ref

    def dims(self) -> tuple[str, ...] | None:
        """The materialised grouping set answering the scope, if any."""
        want = set(self.scope)
        return next((g for g in GSETS if g and set(g) == want), None)


@dataclass
class _Core:
    curve: PlannedCurve
    series: int  # one core cell
    scope: dict[str, str]
    # per grouping set sharing a dimension with the core: its series, the ones that
    # match the core on the shared dimensions, and the series of the shared slice
    shared: list[tuple[np.ndarray, np.ndarray, int]]


class PlanMultipliers:
    """Per-series multipliers of the planned curves, from the learnt masses.

    The baselines already carry the day's slow shape (a slice is a share of the
    market's level, the market follows its own trend), and a campaign's plan holds
    that shape too; multiplying by the plan itself would count it twice. So a
    campaign's multiplier is its planned rate now over an EW of its planned rate
    (half-life `halflife_s`): a planned 20:00 jump is x4 at 20:00, and fades to 1 as
    the jump becomes the plan's own recent past; a slow shape stays near 1.
    Baselines learn counts divided by the multiplier, so a peak that does not come
    is a shortfall for as long as the plan's memory lasts.
    """

    def __init__(self, curves: list[PlannedCurve], halflife_s: float = 300.0) -> None:
        self.curves = curves
        self.decay = 0.5 ** (1.0 / halflife_s)
        self._ew: dict[str, float] = {}  # curve -> EW of its planned rate
        self._n = -1
        self._cores: list[_Core] = []

    def ratios(self, ts: int) -> dict[str, float]:
        """Per curve, its planned rate now over its recent planned rate (0 outside
        its window); moves the EWs on by one tick."""
        out = {}
        for curve in self.curves:
            p = curve.multiplier(ts)
            if p <= 0:  # outside the window: nothing expected, and it starts afresh
                self._ew.pop(curve.name, None)
                out[curve.name] = 0.0
                continue
            prev = self._ew.get(curve.name, p)
            out[curve.name] = p / prev
            self._ew[curve.name] = self.decay * prev + (1 - self.decay) * p
        return out

    def __call__(
        self,
        index: SeriesIndex,
        groups: dict[tuple[str, ...], np.ndarray],
        root: int,
        mass: np.ndarray,
        market_mass: float,
        ts: int,
    ) -> np.ndarray | None:
        """Multiplier per series at ts (None: no curve, all 1); call once a tick.
        `mass`: each series' learnt plan-free count (ShareBaseline.sx),
        `market_mass` the market's."""
        if not self.curves:
            return None
        if self._n != len(index):
            self._cores = self._build(index, groups)
            self._n = len(index)
        ratios = self.ratios(ts)
        m = np.ones(len(index))
        closed = []
        for core in self._cores:
            g = ratios[core.curve.name]
            if g <= 0:
                # outside its window the campaign's own cells are not judged; the rest
                # of the market expects nothing of it (its buyers may well go on, as
                # orders of no campaign)
                closed.append(core.series)
                continue
            own = float(mass[core.series])
            if g == 1.0 or own <= 0 or market_mass <= 0:
                continue
            frac = min(1.0, own / market_mass)
            m += frac * (g - 1)  # every series holds its market share of it
            for members, match, common in core.shared:
                m[members] -= frac * (g - 1)  # another value: none of it
                if len(match) and common >= 0 and mass[common] > 0:
                    m[match] += min(1.0, own / float(mass[common])) * (g - 1)
        m[closed] = 0.0
        return np.maximum(m, 0.0)

    def _build(self, index: SeriesIndex, groups: dict[tuple[str, ...], np.ndarray]) -> list[_Core]:
        scopes = [index.scope_dict(i) for i in range(len(index))]
        lookup = {frozenset(sc.items()): i for i, sc in enumerate(scopes)}
        # per grouping set, each dimension's value of every member (vectorised matching)
        values = {
            gdims: {d: np.array([scopes[k][d] for k in members.tolist()]) for d in gdims}
            for gdims, members in groups.items()
        }
        cores = []
        for curve in self.curves:
            dims = curve.dims()
            if dims is None:
                continue
            for key in product(*(curve.scope[d] for d in dims)):
                scope = dict(zip(dims, key, strict=True))
                i = lookup.get(frozenset(scope.items()))
                if i is None:
                    continue  # not seen yet: no mass, nothing to expect
                shared = []
                for gdims, members in groups.items():
                    common = [d for d in gdims if d in scope]
                    if not common:
                        continue
                    hit = np.ones(len(members), dtype=bool)
                    for d in common:
                        hit &= values[gdims][d] == scope[d]
                    j = lookup.get(frozenset((d, scope[d]) for d in common), -1)
                    shared.append((members, members[hit], j))
                cores.append(_Core(curve, i, scope, shared))
        return cores
