"""Named switches (e.g. `payments.route.card = fallback`) that other systems read."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from warroom.command.actions.base import ActionContext, ActionSpec, Touch, touch
from warroom.command.orders import Scope
from warroom.command.tables import switches_t


def get_switch(engine: sa.Engine, name: str) -> str | None:
    with engine.connect() as c:
        return c.execute(sa.select(switches_t.c.value).where(switches_t.c.name == name)).scalar()


def list_switches(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(sa.select(switches_t).order_by(switches_t.c.name))
        return [dict(r._mapping) for r in rows]


def _write(ctx: ActionContext, name: str, value: str | None, ref: str) -> None:
    with ctx.engine.begin() as c:
        c.execute(sa.delete(switches_t).where(switches_t.c.name == name))
        if value is not None:  # None restores "never set"
            c.execute(
                sa.insert(switches_t).values(
                    name=name, value=value, changed_ms=ctx.clock.now_ms(), ref=ref
                )
            )


class SetSwitch:
    spec = ActionSpec("set_switch", "set a named switch", required=("name", "value"))

    def dry_run(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any]) -> Touch:
        name, value = str(args["name"]), str(args["value"])
        changes = get_switch(ctx.engine, name) != value
        return touch(self.spec.name, switches=[name] if changes else [])

    def apply(self, ctx: ActionContext, *, scope: Scope, args: dict[str, Any], ref: str) -> Touch:
        name, value = str(args["name"]), str(args["value"])
        before = get_switch(ctx.engine, name)
        if before == value:
            return touch(self.spec.name, switches=[])
        _write(ctx, name, value, ref)
        return touch(self.spec.name, {"name": name, "before": before}, switches=[name])

    def undo(self, ctx: ActionContext, *, ref: str, applied: Touch) -> Touch:
        if "name" not in applied.undo:
            return touch("undo_set_switch", switches=[])
        _write(ctx, applied.undo["name"], applied.undo["before"], f"undo:{ref}")
        return touch("undo_set_switch", switches=[applied.undo["name"]])
