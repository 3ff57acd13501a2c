"""Plan runs on a fake clock: approvals (two-person rule), time-outs, reject, undo, failure,
and everything on the incident's timeline and in the audit chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from warroom.cli import app
from warroom.command.actions.campaigns import campaign_states
from warroom.command.actions.shipping import held_orders
from warroom.command.actions.switches import get_switch
from warroom.command.clock import FakeClock
from warroom.command.errors import Forbidden, InvalidTransition
from warroom.command.orders import Scope, SqlOrderSource
from warroom.command.plancheck import load_plan
from warroom.command.service import Command
from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.engine.engine import Engine
from warroom.store.db import Store

PLANS = Path(__file__).resolve().parents[1] / "plans"
T0 = 1_794_326_400_000


def order(i: int, merchant: str, sku: str, campaign: str) -> dict[str, Any]:
    return {
        "type": "order",
        "id": f"ol-{i}",
        "ts": T0 + i * 10,
        "order_id": f"o-{i}",
        "user_id": "u",
        "merchant_id": merchant,
        "item_id": "it",
        "sku_id": sku,
        "category": "c",
        "region": "CN-ZJ",
        "country": "CN",
        "channel": "app",
        "quantity": 1,
        "unit_price": 9.9,
        "currency": "CNY",
        "campaign": campaign,
    }


@pytest.fixture
def cmd(tmp_path: Path, rates: RatesTable) -> Command:
    store = Store.open(tmp_path)
    clock = FakeClock(T0 + 60_000)
    command = Command.open(engine=store.engine, clock=clock, audit_clock=clock)
    events = [order(i, f"m-{i % 3}", f"s-{i % 5}", f"c-{i % 2}") for i in range(30)]
    buf = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    step = Engine().process(Decoder(rates).decode_ndjson(buf, 1))
    assert isinstance(command.orders, SqlOrderSource)
    command.orders.feed(step.records)
    command.broadcast.load_roster(
        [
            {"name": "alice", "role": "commander", "next": "bob"},
            {"name": "bob", "role": "commander"},
            {"name": "wendy", "role": "watcher", "next": "alice"},
        ]
    )
    return command


PRICE = {"merchants": ["m-1"], "skus": ["s-1", "s-2"], "campaigns": ["c-1"]}


def test_two_person_rule_and_steps_run_in_order(cmd: Command) -> None:
    plan, clock = load_plan(PLANS / "price-error.yaml"), cmd.clock
    dry = cmd.runs.dry_run(plan=plan, params=PRICE)
    run_id = cmd.runs.start(plan=plan, params=PRICE, by="alice")
    run = cmd.runs.get(run_id=run_id)
    assert run["state"] == "waiting_approval"
    assert [s["state"] for s in run["steps"]] == ["waiting_approval", "pending", "pending"]
    # The approver sees exactly the dry run.
    assert {k: v for k, v in run["steps"][0]["result"]["preview"].items()} == {
        k: dry[0][k] for k in ("action", "counts", "ids")
    }
    with pytest.raises(Forbidden, match="two-person rule"):
        cmd.runs.approve(run_id=run_id, idx=0, by="alice", role="commander")
    with pytest.raises(Forbidden, match="role watcher"):
        cmd.runs.approve(run_id=run_id, idx=0, by="wendy", role="watcher")
    with pytest.raises(InvalidTransition):
        cmd.runs.approve(run_id=run_id, idx=1, by="bob", role="commander")  # not its turn
    clock.advance(30)
    run = cmd.runs.approve(run_id=run_id, idx=0, by="bob", role="commander")
    assert [s["state"] for s in run["steps"]] == ["done", "waiting_approval", "pending"]
    assert held_orders(cmd.engine) == dry[0]["ids"]["orders"] != []
    run = cmd.runs.approve(run_id=run_id, idx=1, by="carol", role="admin")
    assert campaign_states(cmd.engine) == {"c-1": "paused"}
    run = cmd.runs.approve(run_id=run_id, idx=2, by="bob", role="commander")
    assert run["state"] == "done"
    assert run["steps"][2]["result"]["applied"]["ids"] == {"merchants": ["m-1"]}
    timeline = cmd.incidents.timeline(incident_id=run["incident_id"])
    actions = [(e["actor"], e["text"].split(" ")[0]) for e in timeline]
    assert actions[:3] == [
        ("alice", "incident.declare"),
        ("alice", "run.start"),
        ("warroom", "step.waiting_approval"),
    ]
    assert ("alice", "step.approve") in actions and ("wendy", "step.approve") in actions
    denied = [e for e in timeline if ": denied" in e["text"]]
    assert [e["actor"] for e in denied] == ["alice", "wendy"]
    approved = next(e for e in timeline if e["actor"] == "bob")
    assert approved["ts_ms"] == T0 + 90_000  # on the fake clock
    assert actions[-1] == ("warroom", "run.done")
    assert cmd.audit.verify() is None
    assert len(cmd.audit.rows()) == len(timeline)


def test_step_times_out_on_the_clock(cmd: Command) -> None:
    plan, clock = load_plan(PLANS / "payment-channel-down.yaml"), cmd.clock
    run_id = cmd.runs.start(plan=plan, params={"method": "card"}, by="alice")
    deadline = cmd.runs.get(run_id=run_id)["steps"][0]["deadline_ms"]
    assert deadline == clock.now_ms() + 5 * 60_000
    clock.advance(299.999)
    assert cmd.runs.tick() == []
    clock.t = deadline  # at the deadline it may still be approved
    cmd.runs.approve(run_id=run_id, idx=0, by="bob", role="commander")
    assert get_switch(cmd.engine, "payments.route.card") is None
    clock.advance(5 * 60 + 0.001)
    assert cmd.runs.tick() == [(run_id, 1)]
    run = cmd.runs.get(run_id=run_id)
    assert run["state"] == "timed_out" and run["steps"][1]["state"] == "timed_out"
    with pytest.raises(InvalidTransition, match="timed_out"):
        cmd.runs.approve(run_id=run_id, idx=1, by="bob", role="commander")
    kinds = [
        e["text"].split(" ")[0] for e in cmd.incidents.timeline(incident_id=run["incident_id"])
    ]
    assert "step.timeout" in kinds and "broadcast.send" in kinds


def test_a_late_approval_meets_a_timed_out_step(cmd: Command) -> None:
    plan = load_plan(PLANS / "payment-channel-down.yaml")
    run_id = cmd.runs.start(plan=plan, params={"method": "card"}, by="alice")
    cmd.clock.advance(301)  # nobody called tick(): the approval itself finds the time-out
    with pytest.raises(InvalidTransition, match="timed_out"):
        cmd.runs.approve(run_id=run_id, idx=0, by="bob", role="commander")
    assert cmd.runs.get(run_id=run_id)["state"] == "timed_out"


def test_reject_stops_the_run(cmd: Command) -> None:
    plan = load_plan(PLANS / "payment-channel-down.yaml")
    run_id = cmd.runs.start(plan=plan, params={"method": "card"}, by="alice")
    with pytest.raises(Forbidden):
        cmd.runs.reject(run_id=run_id, idx=0, by="alice", role="commander")
    run = cmd.runs.reject(run_id=run_id, idx=0, by="bob", role="commander", reason="false alarm")
    assert run["state"] == "rejected" and run["steps"][0]["error"] == "false alarm"
    assert [s["state"] for s in run["steps"]] == ["rejected", "pending", "pending"]


def test_undo_reverses_done_steps_newest_first(cmd: Command) -> None:
    plan = load_plan(PLANS / "payment-channel-down.yaml")
    params = {"method": "card", "campaigns": ["c-0"]}
    run_id = cmd.runs.start(plan=plan, params=params, by="alice")
    for idx in range(3):
        cmd.runs.approve(run_id=run_id, idx=idx, by="bob", role="commander")
    assert get_switch(cmd.engine, "payments.route.card") == "fallback"
    assert campaign_states(cmd.engine) == {"c-0": "paused"}
    with pytest.raises(Forbidden):
        cmd.runs.undo(run_id=run_id, by="wendy", role="watcher")
    run = cmd.runs.undo(run_id=run_id, by="bob", role="commander")
    assert run["state"] == "undone"
    assert [s["state"] for s in run["steps"]] == ["done", "undone", "undone"]  # broadcast stays
    assert get_switch(cmd.engine, "payments.route.card") is None
    assert campaign_states(cmd.engine) == {"c-0": "active"}
    undo_order = [
        e["text"].split(" ")[1]
        for e in cmd.incidents.timeline(incident_id=run["incident_id"])
        if e["text"].startswith("step.undo")
    ]
    assert undo_order == ["run:1/step:2:", "run:1/step:1:"]
    with pytest.raises(InvalidTransition):
        cmd.runs.undo(run_id=run_id, by="bob", role="commander")


class BrokenOrders:
    """An order index that goes down when told to."""

    def __init__(self) -> None:
        self.down = False

    def orders_in(self, scope: Scope, *, unshipped: bool = False) -> list[str]:
        if self.down:
            raise OSError("order index unavailable")
        return ["o-1"]

    def merchants_in(self, scope: Scope) -> list[str]:
        return list(scope.merchants)


def test_a_failing_action_fails_the_run(tmp_path: Path) -> None:
    orders = BrokenOrders()
    cmd = Command.open(engine=Store.open(tmp_path).engine, clock=FakeClock(T0), orders=orders)
    plan = load_plan(PLANS / "refund-abuse-wave.yaml")
    run_id = cmd.runs.start(plan=plan, params={"merchants": ["m-1"]}, by="alice")
    cmd.runs.approve(run_id=run_id, idx=0, by="bob", role="commander")
    orders.down = True  # between the preview and the approval
    run = cmd.runs.approve(run_id=run_id, idx=1, by="bob", role="commander")
    assert run["state"] == "failed"
    assert (run["steps"][1]["state"], run["steps"][1]["error"]) == (
        "failed",
        "order index unavailable",
    )
    assert run["steps"][2]["state"] == "pending"
    # A step whose dry run cannot be made is never put up for approval.
    orders.down = False
    again = cmd.runs.start(plan=plan, params={"merchants": ["m-1"]}, by="alice")
    orders.down = True
    run = cmd.runs.approve(run_id=again, idx=0, by="bob", role="commander")
    assert run["state"] == "failed" and run["steps"][1]["state"] == "failed"
    tampered = cmd.audit.verify()
    assert tampered is None
    failed = [r for r in cmd.audit.rows() if r["result"] == "failed"]
    assert [(r["action"], r["target"]) for r in failed] == [
        ("step.run", f"run:{run_id}/step:1"),
        ("step.preview", f"run:{again}/step:1"),
    ]


def test_dry_run_of_a_plan_lists_ids_per_step(cmd: Command) -> None:
    plan = load_plan(PLANS / "catalog-scrambled.yaml")
    params = {"merchants": ["m-2"], "skus": ["s-0"]}
    dry = cmd.runs.dry_run(plan=plan, params=params)
    want = sorted(f"o-{i}" for i in range(30) if i % 3 == 2 and i % 5 == 0)
    assert dry[0]["ids"] == {"orders": want} and dry[0]["counts"] == {"orders": len(want)}
    assert dry[1]["ids"] == {"merchants": ["m-2"]}
    assert dry[2]["ids"] == {"switches": ["catalog.batch_edit"]}
    assert cmd.runs.dry_run(plan=plan, params=params) == dry  # nothing was written


def test_audit_verify_cli_on_a_run(cmd: Command, tmp_path: Path) -> None:
    plan = load_plan(PLANS / "region-down.yaml")
    cmd.runs.start(plan=plan, params={"regions": ["CN-ZJ"]}, by="alice")
    out = CliRunner().invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert out.exit_code == 0 and out.output.startswith("ok: 3 rows"), out.output


def test_alert_to_incident_to_plan_to_merchant_ack(cmd: Command) -> None:
    from warroom.command.actions.merchants import deliver_due, outbox

    alert = {
        "id": "cat-9",
        "state": "firing",
        "source": "catalog",
        "metric": "sku_changes",
        "direction": "change",
        "severity": "critical",
        "scope": {"merchant": "m-1"},
        "summary": "SKU attributes scrambled by merchant:m-1: 2 SKUs",
        "entities": {"merchants": ["m-1"], "skus": ["s-1", "s-3"]},
    }
    plan = load_plan(PLANS / "catalog-scrambled.yaml")
    incident, run_id = cmd.start_from_alert(plan=plan, alert=alert, commander="alice", by="alice")
    run = cmd.runs.approve(run_id=run_id, idx=0, by="bob", role="commander")
    want = sorted(f"o-{i}" for i in range(30) if i % 3 == 1 and i % 5 in (1, 3))
    assert run["steps"][0]["result"]["applied"]["ids"] == {"orders": want}
    run = cmd.runs.approve(run_id=run_id, idx=1, by="bob", role="commander")
    sent: list[tuple[str, str]] = []
    deliver_due(
        cmd.engine,
        send=lambda n: sent.append((n.merchant_id, n.message)),
        now_ms=cmd.clock.now_ms(),
    )
    assert sent == [("m-1", "Your SKUs s-1, s-3 were scrambled; restore them from the snapshot.")]
    notice = outbox(cmd.engine, ref=f"run:{run_id}/step:1")[0]
    cmd.acknowledge_notice(outbox_id=notice["id"], by="operator:m-1")
    timeline = cmd.incidents.timeline(incident_id=incident)
    assert timeline[1]["kind"] == "alert" and timeline[1]["data"]["id"] == "cat-9"
    assert timeline[-1]["kind"] == "ack" and timeline[-1]["actor"] == "operator:m-1"
    assert cmd.audit.verify() is None


def test_two_racing_approvers_apply_the_step_once(cmd: Command) -> None:
    import threading

    plan = load_plan(PLANS / "catalog-scrambled.yaml")
    run_id = cmd.runs.start(plan=plan, params={"merchants": ["m-0"], "skus": ["s-0"]}, by="ann")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve(who: str) -> None:
        barrier.wait()
        try:
            cmd.runs.approve(run_id=run_id, idx=0, by=who, role="commander")
            outcomes.append("approved")
        except InvalidTransition:
            outcomes.append("lost")

    threads = [threading.Thread(target=approve, args=(w,)) for w in ("bob", "carol")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["approved", "lost"]
    holds = [r for r in cmd.audit.rows() if r["action"] == "step.run"]
    assert len(holds) == 1
