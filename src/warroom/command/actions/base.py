"""What every action is: a spec the plan checker reads, and dry run / apply / undo.

`dry_run` and `apply` return the same `Touch` (counts and ids) when nothing changed in
between, so what an approver saw is what the step does. `apply` also returns what its
`undo` needs (previous values), kept with the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa

from warroom.command.clock import Clock
from warroom.command.orders import OrderSource, Scope


@dataclass(frozen=True)
class ActionSpec:
    name: str
    summary: str
    required: tuple[str, ...] = ()  # keys of the step's `with`
    optional: tuple[str, ...] = ()
    undoable: bool = True
    # Scope fields the action reads; a plan using it must declare at least one of them.
    scope: tuple[str, ...] = ()


class Touch(msgspec.Struct):
    action: str
    counts: dict[str, int]
    ids: dict[str, list[str]]
    undo: dict[str, Any] = msgspec.field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """Counts and ids, without the undo bookkeeping (what a dry run shows)."""
        return {"action": self.action, "counts": self.counts, "ids": self.ids}


def touch(action: str, undo: dict[str, Any] | None = None, **ids: list[str]) -> Touch:
    return Touch(action, {k: len(v) for k, v in ids.items()}, ids, undo or {})


@dataclass
class ActionContext:
    engine: sa.Engine
    clock: Clock
    orders: OrderSource
    broadcast: Any = None  # a BroadcastService, for the broadcast action
    extra: dict[str, Any] = field(default_factory=dict)


class Action(Protocol):
    spec: ActionSpec

    def dry_run(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any]) -> Touch: ...

    def apply(
        self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any], ref: str
    ) -> Touch: ...

    def undo(self, ctx: ActionContext, *, ref: str, applied: Touch) -> Touch: ...
