"""Actions on a real SQLite store: dry run == apply (counts and ids), undo, violations.

Orders reach command the way they will in production: NDJSON through the contract
decoder and the engine, then `StepResult.records` into `SqlOrderSource.feed`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from warroom.command.actions import ACTIONS
from warroom.command.actions.base import ActionContext
from warroom.command.actions.campaigns import campaign_states
from warroom.command.actions.merchants import Notice, acknowledge, deliver_due, outbox
from warroom.command.actions.shipping import held_orders, observe, record_shipment, violations
from warroom.command.actions.switches import get_switch
from warroom.command.clock import FakeClock
from warroom.command.errors import InvalidTransition
from warroom.command.order_index import BackgroundOrderIndex
from warroom.command.orders import Scope, SqlOrderSource
from warroom.command.tables import create
from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.engine.engine import Engine
from warroom.store.db import Store

T0 = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00
MERCHANTS, SKUS, REGIONS = ["m-1", "m-2", "m-3"], ["s-a", "s-b", "s-c", "s-d"], ["CN-ZJ", "CN-GD"]


def order(i: int) -> dict[str, Any]:
    return {
        "type": "order",
        "id": f"ol-{i}",
        "ts": T0 + i * 100,
        "order_id": f"o-{i // 2}",
        "user_id": f"u-{i}",
        "merchant_id": MERCHANTS[i // 2 % 3],
        "item_id": "it",
        "sku_id": SKUS[i % 4],
        "category": "shoes",
        "region": REGIONS[i // 2 % 2],
        "country": "CN",
        "channel": "app",
        "quantity": 1,
        "unit_price": 10,
        "currency": "CNY",
        "campaign": "c-11" if i % 3 == 0 else "c-12",
    }


def shipment(order_id: str, ts: int, n: int, merchant: str = "m-1") -> dict[str, Any]:
    return {
        "type": "shipment",
        "id": f"sh-{n}",
        "ts": ts,
        "order_id": order_id,
        "merchant_id": merchant,
        "status": "shipped",
    }


def feed(source: SqlOrderSource, engine: Engine, decoder: Decoder, events: list[dict]) -> Any:
    buf = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    step = engine.process(decoder.decode_ndjson(buf, 1))
    source.feed(step.records)
    if isinstance(source, BackgroundOrderIndex):
        source.wait()  # as the server's checkpoint does before the step counts
    return step.records


@pytest.fixture(params=[SqlOrderSource, BackgroundOrderIndex])
def world(tmp_path: Path, rates: RatesTable, request: pytest.FixtureRequest) -> Iterator[dict]:
    """Each action test runs on the inline index (`warroom run`) and the server's."""
    store = Store.open(tmp_path)
    create(store.engine)
    source, eng, dec = request.param(store.engine), Engine(), Decoder(rates)
    events = [order(i) for i in range(60)]
    shipped = {"o-0", "o-3", "o-4"}  # orders shipped before any hold
    events += [shipment(o, T0 + 7_000 + n, n) for n, o in enumerate(sorted(shipped))]
    feed(source, eng, dec, events)
    ctx = ActionContext(store.engine, FakeClock(T0 + 10_000), source)
    yield {
        "ctx": ctx,
        "events": events,
        "shipped": shipped,
        "feed": lambda ev: feed(source, eng, dec, ev),
        "engine": store.engine,
    }
    if isinstance(source, BackgroundOrderIndex):
        source.close()


def brute_unshipped(events: list[dict], **want: list[str]) -> list[str]:
    """The reference: a plain Python pass over the events."""
    keys = {"merchants": "merchant_id", "skus": "sku_id", "regions": "region"}
    shipped = {e["order_id"] for e in events if e["type"] == "shipment"}
    return sorted(
        {
            e["order_id"]
            for e in events
            if e["type"] == "order"
            and all(e[keys[k]] in v for k, v in want.items())
            and e["order_id"] not in shipped
        }
    )


def counts(engine: sa.Engine) -> dict[str, int]:
    from warroom.command.tables import metadata

    with engine.connect() as c:
        return {
            t.name: c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }


def test_hold_dry_run_is_exact_and_apply_matches(world: dict[str, Any]) -> None:
    ctx, hold = world["ctx"], ACTIONS["hold_shipping"]
    scope = Scope(merchants=("m-1",), skus=("s-a", "s-c"))
    want = brute_unshipped(world["events"], merchants=["m-1"], skus=["s-a", "s-c"])
    assert len(want) >= 3
    before = counts(world["engine"])
    dry = hold.dry_run(ctx, scope=scope, args={})
    assert counts(world["engine"]) == before  # a dry run writes nothing
    assert dry.ids == {"orders": want} and dry.counts == {"orders": len(want)}
    applied = hold.apply(ctx, scope=scope, args={}, ref="run:1/step:0")
    assert applied.public() == dry.public()
    assert held_orders(ctx.engine) == want
    # Already held orders are not touched twice; a narrower scope finds nothing new.
    assert hold.dry_run(ctx, scope=Scope(merchants=("m-1",)), args={}).ids["orders"] == sorted(
        set(brute_unshipped(world["events"], merchants=["m-1"])) - set(want)
    )
    assert hold.dry_run(ctx, scope=Scope(), args={}).counts == {"orders": 0}  # never "all"


def test_since_and_region_narrow_the_scope(world: dict[str, Any]) -> None:
    ctx = world["ctx"]
    since = T0 + 3_000
    scope = Scope(regions=("CN-GD",), since=since)
    want = sorted(
        {
            e["order_id"]
            for e in world["events"]
            if e["type"] == "order" and e["region"] == "CN-GD" and e["ts"] >= since
        }
        - world["shipped"]
    )
    assert ACTIONS["hold_shipping"].dry_run(ctx, scope=scope, args={}).ids["orders"] == want


def test_shipment_of_held_order_is_a_counted_violation(world: dict[str, Any]) -> None:
    ctx = world["ctx"]
    applied = ACTIONS["hold_shipping"].apply(
        ctx, scope=Scope(merchants=("m-2",)), args={}, ref="run:7/step:1"
    )
    held = applied.ids["orders"]
    other = brute_unshipped(world["events"], merchants=["m-3"])[0]
    batch = [shipment(held[0], T0 + 20_000, 100, "m-2"), shipment(other, T0 + 20_001, 101, "m-3")]
    records = world["feed"](batch)
    assert observe(ctx.engine, records) == 1
    assert observe(ctx.engine, records) == 1  # the same events again: still one violation
    v = violations(ctx.engine)
    assert [(r["order_id"], r["ref"], r["record_id"]) for r in v] == [
        (held[0], "run:7/step:1", "sh-100")
    ]
    assert record_shipment(ctx.engine, order_id=held[1], ts=T0 + 21_000) is True
    assert len(violations(ctx.engine)) == 2
    released = ACTIONS["hold_shipping"].undo(ctx, ref="run:7/step:1", applied=applied)
    assert released.ids["orders"] == held and held_orders(ctx.engine) == []
    assert record_shipment(ctx.engine, order_id=held[2], ts=T0 + 22_000) is False
    assert len(violations(ctx.engine)) == 2


def test_campaign_pause_resume_and_undo(world: dict[str, Any]) -> None:
    ctx = world["ctx"]
    pause, resume = ACTIONS["pause_campaign"], ACTIONS["resume_campaign"]
    scope = Scope(campaigns=("c-11", "c-12"))
    resume.apply(ctx, scope=Scope(campaigns=("c-12",)), args={}, ref="r0")  # no-op: active
    p1 = pause.apply(ctx, scope=Scope(campaigns=("c-12",)), args={}, ref="r1")
    assert p1.ids == {"campaigns": ["c-12"]}
    dry = pause.dry_run(ctx, scope=scope, args={})
    assert dry.ids == {"campaigns": ["c-11"]}  # c-12 is already paused
    p2 = pause.apply(ctx, scope=scope, args={}, ref="r2")
    assert campaign_states(ctx.engine) == {"c-11": "paused", "c-12": "paused"}
    pause.undo(ctx, ref="r2", applied=p2)
    assert campaign_states(ctx.engine) == {"c-11": "active", "c-12": "paused"}
    assert resume.dry_run(ctx, scope=scope, args={}).ids == {"campaigns": ["c-12"]}


def test_switch_set_and_undo_restore_previous(world: dict[str, Any]) -> None:
    ctx, sw = world["ctx"], ACTIONS["set_switch"]
    args = {"name": "payments.route.card", "value": "fallback"}
    assert sw.dry_run(ctx, scope=Scope(), args=args).ids == {"switches": ["payments.route.card"]}
    a1 = sw.apply(ctx, scope=Scope(), args=args, ref="r1")
    assert get_switch(ctx.engine, "payments.route.card") == "fallback"
    assert sw.dry_run(ctx, scope=Scope(), args=args).counts == {"switches": 0}
    a2 = sw.apply(ctx, scope=Scope(), args={**args, "value": "off"}, ref="r2")
    sw.undo(ctx, ref="r2", applied=a2)
    assert get_switch(ctx.engine, "payments.route.card") == "fallback"
    sw.undo(ctx, ref="r1", applied=a1)
    assert get_switch(ctx.engine, "payments.route.card") is None


class Flaky(Exception):
    retryable = True


class Refused(Exception):
    retryable = False


def test_notify_merchants_outbox_retries_acks_and_undo(world: dict[str, Any]) -> None:
    ctx, notify = world["ctx"], ACTIONS["notify_merchants"]
    scope = Scope(skus=("s-b",))
    want = sorted(
        {e["merchant_id"] for e in world["events"] if e["type"] == "order" and e["sku_id"] == "s-b"}
    )
    dry = notify.dry_run(ctx, scope=scope, args={"message": "x"})
    assert dry.ids == {"merchants": want}
    applied = notify.apply(ctx, scope=scope, args={"message": "hold s-b"}, ref="r1")
    assert applied.public() == dry.public()
    calls: list[str] = []

    def send(notice: Notice) -> None:
        merchant = notice.merchant_id
        calls.append(merchant)
        assert notice.attempt == calls.count(merchant) and notice.ref == "r1"
        if merchant == want[0] and calls.count(merchant) == 1:
            raise Flaky("503")
        if merchant == want[1]:
            raise Refused("400 unknown merchant")

    now = ctx.clock.now_ms()
    assert deliver_due(ctx.engine, send=send, now_ms=now) == {"sent": 1, "retried": 1, "failed": 1}
    assert deliver_due(ctx.engine, send=send, now_ms=now + 1_000) == {
        "sent": 0,
        "retried": 0,
        "failed": 0,
    }  # backoff: not due yet
    assert deliver_due(ctx.engine, send=send, now_ms=now + 2_000)["sent"] == 1
    state = {r["merchant_id"]: (r["state"], r["attempts"]) for r in outbox(ctx.engine, ref="r1")}
    assert state == {want[0]: ("sent", 2), want[1]: ("failed", 1), want[2]: ("sent", 1)}
    row = next(r for r in outbox(ctx.engine) if r["merchant_id"] == want[2])
    acked = acknowledge(ctx.engine, outbox_id=row["id"], by="op:m-3", now_ms=now + 5_000)
    assert (acked["state"], acked["acked_by"]) == ("acked", "op:m-3")
    failed = next(r for r in outbox(ctx.engine) if r["state"] == "failed")
    with pytest.raises(InvalidTransition):
        acknowledge(ctx.engine, outbox_id=failed["id"], by="op", now_ms=now)
    # Undo cancels only what was not yet sent.
    second = notify.apply(ctx, scope=Scope(merchants=("m-1",)), args={"message": "y"}, ref="r2")
    assert notify.undo(ctx, ref="r2", applied=second).ids == {"merchants": ["m-1"]}
    assert notify.undo(ctx, ref="r1", applied=applied).ids == {"merchants": []}


def test_a_notice_cancelled_while_on_the_wire_stays_cancelled(world: dict[str, Any]) -> None:
    ctx, notify = world["ctx"], ACTIONS["notify_merchants"]
    applied = notify.apply(ctx, scope=Scope(merchants=("m-1",)), args={"message": "x"}, ref="r9")

    def send(notice: Notice) -> None:  # the operator's undo lands while the POST is out
        assert notify.undo(ctx, ref="r9", applied=applied).ids == {"merchants": ["m-1"]}

    # a new notice is due at once on any clock: the server delivers on the wall clock
    assert deliver_due(ctx.engine, send=send, now_ms=0) == {"sent": 0, "retried": 0, "failed": 0}
    assert [(r["state"], r["attempts"]) for r in outbox(ctx.engine, ref="r9")] == [("cancelled", 0)]
