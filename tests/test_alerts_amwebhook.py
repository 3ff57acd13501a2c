"""Alertmanager's webhook in: Prometheus rules open and close alerts here."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from notify_receiver import sample_batch
from warroom.alerts.amwebhook import parse
from warroom.alerts.errors import InvalidInput
from warroom.alerts.service import AlertBook
from warroom.notify.webhook import payload


def test_round_trip_of_our_own_payload() -> None:
    (a,) = parse(payload(sample_batch()))
    assert a.state == "firing" and a.scope == {"region": "US-CA", "method": "card"}
    assert a.metric == "payment_success_rate" and a.direction == "drop"
    assert a.ts == sample_batch().ts and a.severity == "critical"


def test_prometheus_alert_opens_and_resolves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "severity": "critical", "region": "CN-GD"},
                "annotations": {"summary": "5xx above 5 % in CN-GD"},
                "startsAt": "2026-11-11T00:10:00+08:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    book = AlertBook(sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}"))
    for a in parse(body):
        assert book.ingest(a)
    body["alerts"][0].update(status="resolved", endsAt="2026-11-11T00:15:00+08:00")
    for a in parse(body):
        assert book.ingest(a)
    (view,) = book.list_alerts()
    assert view["id"] == "am-abc123" and view["state"] == "resolved"
    assert view["summary"] == "5xx above 5 % in CN-GD" and view["scope"] == {"region": "CN-GD"}


def test_bad_bodies_name_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        parse({"version": "4", "alerts": [{"labels": {}, "status": "open"}]})
    assert err.value.field == "alerts[0].status"
    with pytest.raises(InvalidInput) as err:
        parse({"nope": 1})
    assert err.value.field == "alerts"
