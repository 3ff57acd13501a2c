"""The stream drives command: records feed the order index and the holds, and event time
times out approvals and escalates broadcasts; in the server, the `StreamClock` keeps it
running on the wall clock between events and the timer loop fires them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from warroom.command import clockstate
from warroom.command.actions.shipping import violations
from warroom.command.clock import EventClock, FakeClock, StreamClock
from warroom.command.flows import attach
from warroom.command.plancheck import load_plan
from warroom.command.service import Command
from warroom.command.ticker import CommandLoops
from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.engine.engine import Engine
from warroom.store.db import Store

PLANS = Path(__file__).resolve().parents[1] / "plans"
T0 = 1_794_326_400_000


def order(n: int, ts: int) -> dict[str, Any]:
    return {
        "type": "order",
        "id": f"ol-{n}",
        "ts": ts,
        "order_id": f"o-{n}",
        "user_id": "u",
        "merchant_id": "m-9",
        "item_id": "i",
        "sku_id": "s-1",
        "category": "c",
        "region": "CN-GD",
        "country": "CN",
        "channel": "web",
        "quantity": 2,
        "unit_price": 5,
        "currency": "CNY",
    }


def shipment(n: int, ts: int) -> dict[str, Any]:
    return {
        "type": "shipment",
        "id": f"sh-{n}",
        "ts": ts,
        "order_id": f"o-{n}",
        "merchant_id": "m-9",
        "status": "shipped",
    }


def test_stream_feeds_holds_and_event_time_drives_timers(tmp_path: Path, rates: RatesTable) -> None:
    clock = EventClock()
    cmd = Command.open(engine=Store.open(tmp_path).engine, clock=clock)
    cmd.broadcast.load_roster(
        [{"name": "ann", "role": "commander", "next": "ben"}, {"name": "ben", "role": "commander"}]
    )
    engine, decoder = Engine(), Decoder(rates)
    runner = SimpleNamespace(on_step=None)
    attach(runner, cmd)

    def push(events: list[dict[str, Any]]) -> None:
        buf = b"".join(json.dumps(e).encode() + b"\n" for e in events)
        runner.on_step(engine.process(decoder.decode_ndjson(buf, 1)))

    push([order(n, T0 + n * 1_000) for n in range(5)] + [shipment(0, T0 + 5_000)])
    assert clock.now_ms() == T0 + 5_000
    plan = load_plan(PLANS / "region-down.yaml")
    run_id = cmd.runs.start(plan=plan, params={"regions": ["CN-GD"]}, by="ann")
    cmd.runs.approve(run_id=run_id, idx=0, by="ben", role="commander")  # the broadcast
    cmd.runs.approve(run_id=run_id, idx=1, by="ben", role="commander")  # the banner
    run = cmd.runs.approve(run_id=run_id, idx=2, by="ben", role="commander")  # the hold
    assert run["steps"][2]["result"]["applied"]["ids"] == {"orders": ["o-1", "o-2", "o-3", "o-4"]}
    push([shipment(2, T0 + 6_000), shipment(0, T0 + 6_500)])  # o-0 shipped before the hold
    assert [v["order_id"] for v in violations(cmd.engine)] == ["o-2"]
    # Step 3 waits 10 minutes of event time; the broadcast wanted acks within 2 minutes.
    push([order(10, T0 + 2 * 60_000 + 6_000)])
    msg = run["steps"][0]["result"]["applied"]["undo"]["message_id"]
    assert cmd.broadcast.roll_call(message_id=msg).pending == ["ann", "ben"]
    kinds = [e.kind for e in cmd.broadcast.pending_for(person="ann", roles=[])]
    assert kinds == ["message", "resend"]  # to everyone, then the re-send to ann
    assert cmd.runs.get(run_id=run_id)["state"] == "waiting_approval"
    push([order(11, T0 + 11 * 60_000)])
    assert cmd.runs.get(run_id=run_id)["state"] == "timed_out"


def test_stream_clock_runs_on_the_wall_between_events() -> None:
    wall = FakeClock(1_000_000)
    clock = StreamClock(T0, wall=wall)
    assert clock.now_ms() == T0
    wall.advance(30)
    assert clock.now_ms() == T0 + 30_000  # no events: the wall moves it
    clock.observe(T0 + 10_000)  # behind the clock: changes nothing
    assert clock.now_ms() == T0 + 30_000
    clock.observe(T0 + 600_000)  # a replay ahead of it: jumps there, then runs on
    wall.advance(1)
    assert clock.now_ms() == T0 + 601_000
    wall.t -= 5_000  # the wall stepped back (NTP): the clock does not
    assert clock.now_ms() == T0 + 601_000
    assert StreamClock(None, wall=FakeClock(42)).now_ms() == 42  # empty store: the wall's


def test_server_timers_fire_in_the_loop_not_in_the_stream(
    tmp_path: Path, rates: RatesTable
) -> None:
    """`serve` attaches with timers=False: events move the clock, the loop times out."""
    wall = FakeClock(0)
    clock = StreamClock(T0, wall=wall)
    cmd = Command.open(engine=Store.open(tmp_path).engine, clock=clock)
    engine, decoder = Engine(), Decoder(rates)
    runner = SimpleNamespace(on_step=None)
    attach(runner, cmd, timers=False)
    run_id = cmd.runs.start(
        plan=load_plan(PLANS / "region-down.yaml"), params={"regions": ["CN-GD"]}, by="ann"
    )
    buf = json.dumps(order(1, T0 + 6 * 60_000)).encode() + b"\n"
    runner.on_step(engine.process(decoder.decode_ndjson(buf, 1)))
    assert clock.now_ms() == T0 + 6 * 60_000
    assert cmd.runs.get(run_id=run_id)["state"] == "waiting_approval"  # not in the stream
    loops = CommandLoops(cmd, send=None, wall=wall)
    assert loops.timers_once() == {"timed_out": 1, "escalated": 0}
    assert cmd.runs.get(run_id=run_id)["state"] == "timed_out"


def test_the_loops_survive_a_failing_round(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cmd = Command.open(engine=Store.open(tmp_path).engine, clock=FakeClock(T0))
    pokes: list[int] = []
    loops = CommandLoops(cmd, send=None, interval_s=0.01, on_feed=lambda: pokes.append(1))
    calls = {"n": 0}

    def flaky_tick() -> list[tuple[int, int]]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return []

    cmd.runs.tick = flaky_tick  # type: ignore[method-assign]
    cmd.broadcast.load_roster([{"name": "ann", "role": "commander"}])
    cmd.broadcast.send(text="x", roles=["commander"], sender="s", ack_within_ms=1)
    cmd.clock.advance(1)  # type: ignore[attr-defined]

    async def scenario() -> None:
        await loops.start()
        for _ in range(200):
            if loops.rounds["timers"] >= 2:
                break
            await asyncio.sleep(0.01)
        await loops.stop()

    asyncio.run(scenario())
    assert calls["n"] >= 2 and loops.rounds["timers"] >= 1 and loops.rounds["delivery"] >= 1
    assert "command timers round failed" in caplog.text
    assert pokes == [1]  # the escalation poked the feed hub once


def test_the_timers_clock_resumes_where_the_last_process_left_it(tmp_path: Path) -> None:
    engine = Store.open(tmp_path).engine
    wall = FakeClock(5_000_000)
    assert clockstate.resume(engine, event_ms=T0, wall=wall).now_ms() == T0  # nothing saved
    quiet = StreamClock(T0, wall=wall)
    wall.advance(3_600)  # an hour without events: the clock ran on the wall
    clockstate.save(engine, quiet)
    left = T0 + 3_600_000
    wall.advance(60)  # a minute of downtime counts: deadlines passed while down are passed
    assert clockstate.resume(engine, event_ms=T0, wall=wall).now_ms() == left + 60_000
    assert clockstate.resume(engine, event_ms=left + 600_000, wall=wall).now_ms() == (
        left + 600_000
    )  # the store's events are further on: they win
    assert clockstate.resume(engine, event_ms=T0, wall=FakeClock(0)).now_ms() == left  # wall back


def test_stopping_the_loops_saves_the_clock(tmp_path: Path) -> None:
    engine = Store.open(tmp_path).engine
    wall = FakeClock(1_000)
    cmd = Command.open(engine=engine, clock=StreamClock(T0, wall=wall))
    loops = CommandLoops(cmd, send=None, wall=wall, interval_s=0.01, save_every_s=3600)

    async def scenario() -> None:
        await loops.start()
        while loops.rounds["timers"] < 1:
            await asyncio.sleep(0.01)
        wall.advance(30)
        await loops.stop()

    asyncio.run(scenario())
    assert clockstate.resume(engine, event_ms=None, wall=wall).now_ms() == T0 + 30_000
