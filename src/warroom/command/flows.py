"""Side effects that connect command to the stream: the engine's records feed the order
index and the shipping holds; time-outs and escalations fire on each step.

`attach(runner, command)` chains onto `Runner.on_step` like the watch does, so
`warroom run` and `warroom serve` can carry command along without changes of their own.
The server passes `timers=False`: its timer loop (`command/ticker.py`) runs them every
second on the wall-driven `StreamClock`, and one caller avoids two threads racing to
escalate the same delivery.
"""

from __future__ import annotations

from typing import Any

from warroom.command.actions.shipping import observe
from warroom.command.clock import EventClock, StreamClock
from warroom.command.orders import SqlOrderSource
from warroom.command.service import Command


def on_records(command: Command, records: Any, *, timers: bool = True) -> dict[str, int]:
    """One batch of `StepResult.records`: index it, count hold violations, move the
    clock to its event time, and (unless `timers` is False) run the timers."""
    indexed = 0
    if isinstance(command.orders, SqlOrderSource):
        indexed = command.orders.feed(records)
    violations = observe(command.engine, records)
    clock = command.clock
    if isinstance(clock, EventClock | StreamClock) and records is not None and records.height:
        clock.observe(int(records["ts"].max()))
    timed_out = command.runs.tick() if timers else []
    escalated = command.broadcast.escalate_due() if timers else []
    return {
        "indexed": indexed,
        "violations": violations,
        "timed_out": len(timed_out),
        "escalated": len(escalated),
    }


def attach(runner: Any, command: Command, *, timers: bool = True) -> None:
    previous = runner.on_step

    def on_step(step: Any) -> None:
        if previous is not None:
            previous(step)
        on_records(command, step.records, timers=timers)

    runner.on_step = on_step
