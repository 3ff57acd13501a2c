"""The actions a plan step can take, by name."""

from __future__ import annotations

from warroom.command.actions.base import Action, ActionContext, ActionSpec, Touch
from warroom.command.actions.broadcast import Broadcast
from warroom.command.actions.campaigns import PauseCampaign, ResumeCampaign
from warroom.command.actions.merchants import NotifyMerchants
from warroom.command.actions.shipping import HoldShipping
from warroom.command.actions.switches import SetSwitch

ACTIONS: dict[str, Action] = {
    a.spec.name: a
    for a in (
        HoldShipping(),
        PauseCampaign(),
        ResumeCampaign(),
        NotifyMerchants(),
        SetSwitch(),
        Broadcast(),
    )
}

__all__ = ["ACTIONS", "Action", "ActionContext", "ActionSpec", "Touch"]
