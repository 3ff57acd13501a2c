"""Pause or resume campaigns; the state is a table other systems read over the API."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from warroom.command.actions.base import ActionContext, ActionSpec, Touch, touch
from warroom.command.orders import Scope
from warroom.command.tables import campaigns_t

ACTIVE, PAUSED = "active", "paused"


def campaign_states(engine: sa.Engine) -> dict[str, str]:
    """Every campaign command has touched; one never touched is active."""
    with engine.connect() as c:
        rows = c.execute(sa.select(campaigns_t.c.campaign, campaigns_t.c.state))
        return {campaign: state for campaign, state in rows}


def _set(ctx: ActionContext, states: dict[str, str], ref: str) -> None:
    now = ctx.clock.now_ms()
    with ctx.engine.begin() as c:
        for campaign, state in states.items():
            c.execute(sa.delete(campaigns_t).where(campaigns_t.c.campaign == campaign))
            c.execute(
                sa.insert(campaigns_t).values(
                    campaign=campaign, state=state, changed_ms=now, ref=ref
                )
            )


class _SetCampaigns:
    spec: ActionSpec
    target: str

    def _changes(self, ctx: ActionContext, scope: Scope) -> dict[str, str]:
        """campaign -> its state before, for each campaign the step would change."""
        now = campaign_states(ctx.engine)
        before = {c: now.get(c, ACTIVE) for c in sorted(set(scope.campaigns))}
        return {c: s for c, s in before.items() if s != self.target}

    def dry_run(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any]) -> Touch:
        return touch(self.spec.name, campaigns=list(self._changes(ctx, scope)))

    def apply(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any], ref: str) -> Touch:
        before = self._changes(ctx, scope)
        _set(ctx, dict.fromkeys(before, self.target), ref)
        return touch(self.spec.name, {"before": before}, campaigns=list(before))

    def undo(self, ctx: ActionContext, *, ref: str, applied: Touch) -> Touch:
        before: dict[str, str] = applied.undo.get("before", {})
        _set(ctx, before, f"undo:{ref}")
        return touch(f"undo_{self.spec.name}", campaigns=sorted(before))


class PauseCampaign(_SetCampaigns):
    spec = ActionSpec("pause_campaign", "pause the scope's campaigns", scope=("campaigns",))
    target = PAUSED


class ResumeCampaign(_SetCampaigns):
    spec = ActionSpec("resume_campaign", "resume the scope's campaigns", scope=("campaigns",))
    target = ACTIVE
