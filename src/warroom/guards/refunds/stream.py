"""Feeding the guard from a replay: `Runner` steps in, decisions out (NDJSON and the store)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from warroom.guards.refunds.background import GuardThread
from warroom.guards.refunds.decider import Decision, RefundGuard
from warroom.guards.refunds.policy import Policy
from warroom.participants import CheckpointedFile, Journaled


class TextOut(Protocol):
    def write(self, text: str) -> None: ...


def guard_for(runner: Any, policy: Policy) -> RefundGuard:
    rates = runner.rates
    return RefundGuard(policy, rates.base, rates.base_digits)


def attach(
    runner: Any,
    policy: Policy,
    out: TextOut | None = None,
    sink: Callable[[list[Decision]], None] | None = None,
    background: bool = False,
) -> tuple[RefundGuard, GuardThread | None]:
    """Decide every refund a `Runner` reads; write each decision to `out` and `sink`.

    Chains any `on_step` already set. `attach_run` checkpoints the guard with the
    engine; a bare `attach` (a throwaway replay) does not. `background`: the guard runs
    on a thread of its own (background.py), returned with it.
    """
    guard = guard_for(runner, policy)
    previous = runner.on_step

    def deliver(decisions: list[Decision]) -> None:
        if out is not None:
            out.write("".join(json.dumps(d.output(), ensure_ascii=False) + "\n" for d in decisions))
        if sink is not None:
            sink(decisions)

    thread = GuardThread(guard, deliver) if background else None

    def on_step(step: Any) -> None:
        if previous is not None:
            previous(step)
        if thread is not None:
            thread.hand_over(step.records)
            return
        decisions = guard.process(step.records)
        if decisions:
            deliver(decisions)

    runner.on_step = on_step
    return guard, thread


def replay_decisions(
    events: Path,
    policy: Policy,
    rates: Path | None = None,
    batch_bytes: int = 8 << 20,
) -> tuple[list[Decision], RefundGuard]:
    """Every decision a policy makes over an events file (a throwaway engine state)."""
    from warroom.runner import Runner, RunOptions

    decisions: list[Decision] = []
    with tempfile.TemporaryDirectory(prefix="warroom-refunds-") as tmp:
        opts = RunOptions(
            events=str(events),
            data_dir=Path(tmp),
            rates=rates,
            batch_bytes=batch_bytes,
            flush_at_end=False,
            checkpoint_seconds=1e9,
        )
        runner = Runner(opts)
        guard, _ = attach(runner, policy, sink=decisions.extend)
        runner.run()
        runner.store.engine.dispose()
    return decisions, guard


def attach_run(
    runner: Any,
    decisions_out: Path | None,
    policy_path: Path | None = None,
    background: bool = False,
) -> tuple[RefundGuard, GuardThread | None]:
    """`warroom run --decisions-out` (and a server, with no file): decisions to an NDJSON
    file (rewritten from the start) and to the review queue in the run's store.
    `background`: the guard on a thread of its own (the server; background.py). The
    replay gained nothing from it (2 M simulated events: 3.00-3.49 s inline, 2.98-3.14 s
    on the thread) and peaked 10-47 MiB higher with the steps queued for it."""
    from warroom.guards.refunds.policy import load_policy
    from warroom.guards.refunds.queue import ReviewQueue

    policy = load_policy(policy_path)
    queue = ReviewQueue(runner.store.engine)
    fh = CheckpointedFile(decisions_out) if decisions_out is not None else None
    guard: RefundGuard | None = None

    def sink(decisions: list[Decision]) -> None:
        if fh is not None:
            fh.flush()  # a decision on disk before it is in the queue
        assert guard is not None
        queue.record(decisions, policy=policy.name, orders_seen=len(guard.book.orders))

    guard, thread = attach(runner, policy, out=fh, sink=sink, background=background)

    def caught_up(state: Callable[[], Any]) -> Callable[[], Any]:
        def read() -> Any:
            if thread is not None:
                thread.caught_up()  # the state after every record the checkpoint counts
            return state()

        return read

    # The guard's book and link graph checkpoint with the engine (its policy and
    # timings are settings, not state), and the decisions file with them.
    # Journaled: the book grows all day, so each checkpoint writes only what changed.
    runner.join(
        "refunds",
        Journaled(
            caught_up(guard.changes), caught_up(guard.everything), guard.apply_changes, out=fh
        ),
    )
    return guard, thread
