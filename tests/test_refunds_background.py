"""The refund guard on its own thread: the same decisions in the same order, a
checkpoint that waits for it, and a failing step that fails one checkpoint only."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from test_refunds_decider import decode, ring_stream
from warroom.guards.refunds.background import GuardThread
from warroom.guards.refunds.decider import Decision, RefundGuard
from warroom.guards.refunds.policy import load_policy


def test_decisions_come_in_order_and_equal_the_writers_own() -> None:
    frame = decode(ring_stream())
    whole = [d.output() for d in RefundGuard(load_policy()).process(frame)]
    got: list[Decision] = []
    thread = GuardThread(RefundGuard(load_policy()), got.extend)
    for start in range(0, frame.height, 7):
        thread.hand_over(frame.slice(start, 7))
    thread.caught_up()
    assert [d.output() for d in got] == whole and len(whole) > 10
    thread.close()


def test_caught_up_waits_for_the_decisions_to_be_delivered() -> None:
    release, got = threading.Event(), []

    def slow(decisions: list[Decision]) -> None:
        release.wait(5)
        got.extend(decisions)

    thread = GuardThread(RefundGuard(load_policy()), slow)
    thread.hand_over(decode(ring_stream()))
    waiter = threading.Thread(target=thread.caught_up)
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive() and got == []  # a checkpoint is held back
    release.set()
    waiter.join(5)
    assert not waiter.is_alive() and got
    thread.close()


def test_a_step_that_fails_fails_one_checkpoint_and_the_guard_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = decode(ring_stream())
    guard, got = RefundGuard(load_policy()), []
    process, calls = guard.process, []

    def flaky(records):  # type: ignore[no-untyped-def]
        calls.append(records.height)
        if len(calls) == 1:
            raise ValueError("a bug in the guard")
        return process(records)

    monkeypatch.setattr(guard, "process", flaky)
    thread = GuardThread(guard, got.extend)
    thread.hand_over(frame.head(3))
    thread.hand_over(frame.slice(3))
    with pytest.raises(RuntimeError, match="refund guard failed on a step: a bug in the guard"):
        thread.caught_up()
    thread.caught_up()  # raised once: the next checkpoint goes through
    assert calls == [3, frame.height - 3] and got  # the step after it was decided
    thread.close()


def test_a_checkpoint_saves_the_state_after_every_record_it_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wired as the server wires it, with a guard slower than the writer: the state a
    checkpoint saves is the state after all its records, as a resume shows."""
    from warroom.guards.refunds import stream
    from warroom.runner import Runner, RunOptions

    records = ring_stream()
    for r in records:  # the contract's amounts are JSON numbers
        for k in ("unit_price", "amount"):
            if k in r:
                r[k] = float(r[k])
    events = tmp_path / "events.ndjson"
    events.write_text("".join(json.dumps(r) + "\n" for r in records))
    opts = RunOptions(events=str(events), data_dir=tmp_path / "d", batch_bytes=2_000)
    process = RefundGuard.process

    def slow(self: RefundGuard, frame):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return process(self, frame)

    monkeypatch.setattr(RefundGuard, "process", slow)
    runner = Runner(opts)
    guard, thread = stream.attach_run(runner, None, background=True)
    assert thread is not None
    runner.run()
    thread.close()
    whole = guard.everything()
    assert len(guard.book.orders) == sum(r["type"] == "order" for r in records)
    resumed = Runner(opts)  # nothing left to read: the guard is the checkpoint's
    again, _ = stream.attach_run(resumed, None)
    assert again.everything() == whole
