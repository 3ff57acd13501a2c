"""The planned curves of campaigns, as the watch reads them (issue 8: "the planned
curve also tells the watch what surge to expect"; detect/planned.py uses them)."""

from __future__ import annotations

from warroom.campaigns.model import Campaign, CampaignFile, Clock
from warroom.detect.planned import PlannedCurve


def planned_curve(c: Campaign, clock: Clock) -> PlannedCurve | None:
    """The campaign's plan in event time; None without plan points (a window alone
    says nothing of the shape within it)."""
    if not c.plan:
        return None
    scope = {d: tuple(v) for d, v in c.scope.dims().items()}  # named as the cube's
    return PlannedCurve(c.id, scope, tuple(clock.plan(c)))


def planned_curves(f: CampaignFile) -> list[PlannedCurve]:
    clock = Clock(f.compress)
    return [p for c in f.campaigns if (p := planned_curve(c, clock)) is not None]
