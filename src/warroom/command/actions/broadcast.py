"""Broadcast a message on the walkie-talkie channel (cannot be undone: it was heard)."""

from __future__ import annotations

from typing import Any

from warroom.command.actions.base import ActionContext, ActionSpec, Touch, touch
from warroom.command.clock import parse_duration
from warroom.command.orders import Scope

DEFAULT_ACK = "5m"


def _roles(args: dict[str, Any]) -> list[str]:
    roles = args.get("roles", ["*"])
    return [roles] if isinstance(roles, str) else [str(r) for r in roles]


class Broadcast:
    spec = ActionSpec(
        "broadcast",
        "send a message to roles (or everyone) and wait for acknowledgements",
        required=("message",),
        optional=("roles", "ack_within"),
        undoable=False,
    )

    def dry_run(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any]) -> Touch:
        return touch(self.spec.name, people=ctx.broadcast.recipients(_roles(args)))

    def apply(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any], ref: str) -> Touch:
        message_id = ctx.broadcast.send(
            text=str(args["message"]),
            roles=_roles(args),
            sender=ctx.extra.get("actor") or ref,  # the approver speaks, not the plan
            ack_within_ms=parse_duration(args.get("ack_within", DEFAULT_ACK)),
            incident_id=ctx.extra.get("incident_id"),
        )
        people = ctx.broadcast.roll_call(message_id=message_id).pending
        return touch(self.spec.name, {"message_id": message_id}, people=people)

    def undo(self, ctx: ActionContext, *, ref: str, applied: Touch) -> Touch:
        return touch("broadcast", people=[])  # never reached: the plan checker refuses it
