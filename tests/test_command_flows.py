"""The stream drives command: records feed the order index and the holds, and event time
(not wall time) times out approvals and escalates broadcasts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from warroom.command.actions.shipping import violations
from warroom.command.clock import EventClock
from warroom.command.flows import attach
from warroom.command.plancheck import load_plan
from warroom.command.service import Command
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
