"""The alert lifecycle on a controlled event-time clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from warroom.alerts.dispatch import Route
from warroom.alerts.errors import InvalidInput, NotFound
from warroom.alerts.matchers import Matcher
from warroom.alerts.model import Alert, alert_id
from warroom.alerts.mute import InhibitRule, Recurrence
from warroom.alerts.service import AlertBook


def make(metric: str, ts: int, state: str = "firing", direction: str = "drop", **scope: str):
    return Alert(
        id=alert_id(metric, scope, direction, 0),
        state=state,  # type: ignore[arg-type]
        ts=ts,
        source="kpi",
        metric=metric,
        scope=scope,
        direction=direction,  # type: ignore[arg-type]
        observed=1.0,
        expected=10.0,
        score=0.9,
        severity="critical",
        summary=f"{metric} {direction} {scope}",
    )


@pytest.fixture
def engine(tmp_path) -> sa.Engine:  # type: ignore[no-untyped-def]
    return sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")


def book(engine: sa.Engine, **route: int) -> tuple[AlertBook, list]:
    sent: list = []
    r = Route(
        "ops",
        group_by=("metric",),
        group_wait_ms=route.get("wait", 5_000),
        group_interval_ms=route.get("interval", 30_000),
        repeat_interval_ms=route.get("repeat", 300_000),
    )
    return AlertBook(engine, [r], on_batch=sent.append), sent


def test_group_wait_then_interval_then_repeat(engine: sa.Engine) -> None:
    b, sent = book(engine)
    b.ingest(make("orders", 1_000, region="CN-GD"))
    assert b.tick(5_999) == []  # still waiting for the rest of the incident
    b.ingest(make("orders", 3_000, channel="web"))
    (first,) = b.tick(6_000)
    assert sorted(a.scope.get("region", a.scope.get("channel")) for a in first.alerts) == [
        "CN-GD",
        "web",
    ]
    b.ingest(make("orders", 10_000, merchant="m-1"))
    assert b.tick(35_999) == []  # group_interval from the last send
    (second,) = b.tick(36_000)
    assert len(second.alerts) == 3
    assert b.tick(300_000) == []  # unchanged: nothing until repeat_interval
    (again,) = b.tick(336_000)
    assert len(again.alerts) == 3
    assert len(sent) == 3


def test_resolution_is_sent_with_the_same_id_and_group_closes(engine: sa.Engine) -> None:
    b, _ = book(engine, wait=0)
    a = make("orders", 1_000, region="CN-GD")
    b.ingest(a)
    b.tick(1_000)
    b.ingest(a.resolved(20_000, 9.0, 10.0))
    (batch,) = b.tick(31_000)
    assert [(x.id, x.state) for x in batch.alerts] == [(a.id, "resolved")]
    assert b.dispatcher.groups == {}


def test_dedup_of_repeated_deliveries(engine: sa.Engine) -> None:
    b, _ = book(engine)
    a = make("orders", 1_000, region="CN-GD")
    assert b.ingest(a) is True
    assert b.ingest(a) is False
    assert b.ingest(make("visits", 1_000).resolved(2_000, 1, 1)) is False  # never fired
    assert len(b.list_alerts()) == 1


def test_silence_mutes_notification_but_not_the_record(engine: sa.Engine) -> None:
    b, sent = book(engine, wait=0)
    s = b.create_silence(
        matchers=['region="CN-GD"'], starts=0, ends=100_000, created_by="ops:alice"
    )
    b.ingest(make("orders", 1_000, region="CN-GD"))
    b.ingest(make("orders", 1_000, region="CN-ZJ"))
    (batch,) = b.tick(1_000)
    assert [a.scope for a in batch.alerts] == [{"region": "CN-ZJ"}]
    muted = [v for v in b.list_alerts() if v["muted"]]
    assert [v["scope"] for v in muted] == [{"region": "CN-GD"}]
    b.delete_silence(silence_id=s["id"], actor="ops:alice")
    assert not any(v["muted"] for v in b.list_alerts())
    with pytest.raises(NotFound):
        b.delete_silence(silence_id=s["id"], actor="ops:alice")
    assert len(sent) == 1


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


def test_recurring_silence_every_night_in_beijing() -> None:
    nightly = Recurrence(start_minute=23 * 60, end_minute=60)  # 23:00-01:00 +08:00
    assert nightly.active(_ms("2026-11-11T23:30:00+08:00"))
    assert nightly.active(_ms("2026-11-12T00:30:00+08:00"))
    assert not nightly.active(_ms("2026-11-12T01:00:00+08:00"))  # the end is excluded
    assert not nightly.active(_ms("2026-11-11T12:00:00+08:00"))
    weekdays = Recurrence(start_minute=120, end_minute=240, weekdays=(2,))  # Wednesdays
    assert weekdays.active(_ms("2026-11-11T03:00:00+08:00"))  # 11 Nov 2026 is a Wednesday
    assert not weekdays.active(_ms("2026-11-12T03:00:00+08:00"))
    with pytest.raises(InvalidInput) as err:
        Recurrence(start_minute=-1, end_minute=3)
    assert err.value.field == "recurrence.start_minute"


def test_recurring_silence_through_the_service(engine: sa.Engine) -> None:
    b, _ = book(engine, wait=0)
    b.create_silence(
        matchers=['metric=~"orders|visits"'],
        starts=0,
        ends=_ms("2027-01-01T00:00:00+08:00"),
        created_by="ops:bob",
        recurrence={"start_minute": 0, "end_minute": 10},
    )
    night = _ms("2026-11-11T00:05:00+08:00")
    day = _ms("2026-11-11T09:00:00+08:00")
    b.ingest(make("orders", night, region="CN-GD"))
    assert b.tick(night) == []
    b.ingest(make("orders", day, region="CN-ZJ"))
    (batch,) = b.tick(day + 30_000)
    assert {a.scope["region"] for a in batch.alerts} == {"CN-GD", "CN-ZJ"}


def test_parent_alert_inhibits_its_children(engine: sa.Engine) -> None:
    b, _ = book(engine, wait=0)
    b.ingest(make("orders", 1_000, region="CN-GD"))
    b.ingest(make("orders", 1_000, region="CN-GD", channel="app"))
    b.ingest(make("orders", 1_000, channel="app"))
    (batch,) = b.tick(1_000)
    assert sorted(map(str, (a.scope for a in batch.alerts))) == [
        "{'channel': 'app'}",
        "{'region': 'CN-GD'}",
    ]


def test_inhibit_rule_with_equal_labels(engine: sa.Engine) -> None:
    rule = InhibitRule(
        source=[Matcher.parse('severity="critical"'), Matcher.parse('metric="orders"')],
        target=[Matcher.parse('metric="visits"')],
        equal=("region",),
    )
    b = AlertBook(engine, [Route("ops", group_wait_ms=0)], [rule])
    b.ingest(make("orders", 1_000, region="CN-GD"))
    b.ingest(make("visits", 1_000, region="CN-GD"))
    b.ingest(make("visits", 1_000, region="CN-ZJ"))
    sent = [a for batch in b.tick(1_000) for a in batch.alerts]  # one group per alertname
    got = sorted((a.metric, a.scope["region"]) for a in sent)
    assert got == [("orders", "CN-GD"), ("visits", "CN-ZJ")]


def test_ack_owner_history_persist_across_restart(engine: sa.Engine) -> None:
    b, _ = book(engine)
    a = make("payment_success_rate", 5_000, method="card", region="US-CA")
    b.ingest(a)
    assert b.acknowledge(alert_id=a.id, actor="ops:carol") is True
    assert b.acknowledge(alert_id="nope", actor="ops:carol") is False
    b.set_owner(alert_id=a.id, owner="payments-oncall", actor="ops:carol")
    assert b.ticker() == [
        "CRITICAL payment_success_rate drop {'method': 'card', 'region': 'US-CA'}"
        " [ack ops:carol] [owner payments-oncall]"
    ]
    again, _ = book(engine)
    (view,) = again.list_alerts()
    assert (view["id"], view["acked_by"], view["owner"]) == (a.id, "ops:carol", "payments-oncall")
    actions = [h["action"] for h in again.history(alert_id=a.id)]
    assert actions == ["set_owner", "acknowledge", "firing"]
    with pytest.raises(NotFound):
        again.set_owner(alert_id="nope", owner="x", actor="y")


def test_bad_input_names_the_field(engine: sa.Engine) -> None:
    b, _ = book(engine)
    with pytest.raises(InvalidInput) as err:
        b.create_silence(matchers=["region"], starts=0, ends=1, created_by="x")
    assert err.value.field == "matchers"
    with pytest.raises(InvalidInput) as err:
        b.create_silence(matchers=['a="b"'], starts=5, ends=1, created_by="x")
    assert err.value.field == "ends"
    with pytest.raises(InvalidInput) as err:
        b.list_alerts(state="open")
    assert err.value.field == "state"
    with pytest.raises(InvalidInput):
        Matcher.parse('a=~"("')
