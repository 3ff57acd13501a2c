"""Side effects that connect command to the stream: the engine's records feed the order
index and the shipping holds; time-outs and escalations fire on each step.

`attach(runner, command)` chains onto `Runner.on_step` like the watch does, so
`warroom run` and `warroom serve` can carry command along without changes of their own.
"""

from __future__ import annotations

from typing import Any

from warroom.command.actions.shipping import observe
from warroom.command.clock import EventClock
from warroom.command.orders import SqlOrderSource
from warroom.command.service import Command


def on_records(command: Command, records: Any) -> dict[str, int]:
    """One batch of `StepResult.records`: index it, count hold violations, run timers."""
    indexed = 0
    if isinstance(command.orders, SqlOrderSource):
        indexed = command.orders.feed(records)
    violations = observe(command.engine, records)
    if isinstance(command.clock, EventClock) and records is not None and records.height:
        command.clock.observe(int(records["ts"].max()))
    timed_out = command.runs.tick()
    escalated = command.broadcast.escalate_due()
    return {
        "indexed": indexed,
        "violations": violations,
        "timed_out": len(timed_out),
        "escalated": len(escalated),
    }


def attach(runner: Any, command: Command) -> None:
    previous = runner.on_step

    def on_step(step: Any) -> None:
        if previous is not None:
            previous(step)
        on_records(command, step.records)

    runner.on_step = on_step
