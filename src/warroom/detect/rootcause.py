"""Root cause: the most specific slice that explains a move (contribution analysis).

Deviations are additive over the cube (a parent's excess or shortfall is the sum of
its children's), so a scope is explained by a more specific one when that one holds
most of its deviation (`explain`, 80 % by default). From each slice that alarms we
walk down to the child that explains it, and up to a parent it only partly explains,
then alert once: "card payments in US-CA", not the fifty slices around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

Scope = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Candidate:
    index: int  # series index in the pipeline
    scope: Scope
    deviation: float  # size of the move in the metric's unit, >= 0 in its direction
    score: float


def is_descendant(child: Scope, parent: Scope) -> bool:
    return parent < child


def related(a: Scope, b: Scope) -> bool:
    return a <= b or b <= a


def overlapping(a: Scope, b: Scope) -> bool:
    """A dimension value in common and none in conflict: the slices share rows."""
    da, db = dict(a), dict(b)
    shared = da.keys() & db.keys()
    return bool(shared) and all(da[k] == db[k] for k in shared)


def covers(big: Candidate, small: Candidate) -> bool:
    """`small` is part of the move `big` stands for: a parent or child of it, or a
    slice that may overlap it (card in US-CA and app in US-CA) and moved less. The
    cube holds no triple, so an overlap cannot be split further; we side with the
    one alert rather than two for the same failures."""
    if related(big.scope, small.scope):
        return True
    return overlapping(big.scope, small.scope) and small.deviation <= big.deviation


def _disjoint(a: Scope, b: Scope) -> bool:
    da, db = dict(a), dict(b)
    return bool(da) and bool(db) and not (da.keys() & db.keys())


def comoves(big: Candidate, small: Candidate, ratio: float = 1.5) -> bool:
    """Slices with no dimension in common that moved together, by a similar amount:
    a wrongly priced merchant's orders are its category's spike. The cube has no
    merchant x category pair to prove it; the pipeline applies this only to an
    alert opened seconds before."""
    return _disjoint(big.scope, small.scope) and small.deviation <= ratio * big.deviation


def explain_all(
    triggered: Iterable[Candidate],
    elevated: Iterable[Candidate],
    explain: float = 0.8,
    finer: Callable[[Candidate, Candidate], bool] | None = None,
) -> list[Candidate]:
    """One scope per distinct move: each triggered slice mapped to its explaining
    scope among the elevated ones (which include the triggered), duplicates merged."""
    pool = list(elevated)
    chosen: list[Candidate] = []
    order = sorted(triggered, key=lambda c: (-c.deviation, len(c.scope), sorted(c.scope)))
    for cand in order:
        best = _down(cand, pool, explain, finer)
        best = _up(best, pool, explain)
        best = _down(best, pool, explain, finer)
        if not any(covers(c, best) for c in chosen):
            chosen.append(best)
    return chosen


def _down(
    cur: Candidate,
    pool: list[Candidate],
    explain: float,
    finer: Callable[[Candidate, Candidate], bool] | None = None,
) -> Candidate:
    """To a child that holds most of the move; with `finer`, also across dimensions
    to a slice of a finer grouping set that holds it (contribution analysis: one
    merchant holding 80 % of its category's spike is the more specific cause)."""
    while True:
        kids = [
            c
            for c in pool
            if c.deviation >= explain * cur.deviation
            and (
                is_descendant(c.scope, cur.scope)
                or (finer is not None and _disjoint(c.scope, cur.scope) and finer(c, cur))
            )
        ]
        if not kids:
            return cur
        cur = max(kids, key=lambda c: (c.deviation, -len(c.scope), sorted(c.scope)))


def _up(cur: Candidate, pool: list[Candidate], explain: float) -> Candidate:
    """A parent (never the whole market, judged on another baseline) that this slice
    explains only in part is the better scope: the move is wider than this slice."""
    parents = [
        c
        for c in pool
        if c.scope and is_descendant(cur.scope, c.scope) and cur.deviation < explain * c.deviation
    ]
    if not parents:
        return cur
    return max(parents, key=lambda c: (c.deviation, -len(c.scope), sorted(c.scope)))
