"""Generic webhook: Alertmanager's v4 payload, to a receiver on 127.0.0.1."""

from __future__ import annotations

from notify_receiver import Receiver, sample_batch
from warroom.notify.webhook import ZERO_TIME, Webhook


def test_alertmanager_v4_payload() -> None:
    with Receiver() as rx:
        Webhook(rx.url, external_url="http://warroom.local").notify(sample_batch())
    (req,) = rx.requests
    body = req["json"]
    assert req["headers"]["Content-Type"] == "application/json"
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "ops"
    assert set(body) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    (a,) = body["alerts"]
    assert a["labels"]["alertname"] == "payment_success_rate_drop"
    assert a["labels"]["region"] == "US-CA" and a["labels"]["method"] == "card"
    assert a["startsAt"] == "2026-11-10T16:03:20Z" and a["endsAt"] == ZERO_TIME
    assert a["fingerprint"].startswith("a-")
    assert body["commonLabels"] == a["labels"]


def test_resolved_payload() -> None:
    with Receiver() as rx:
        Webhook(rx.url).notify(sample_batch("resolved"))
    body = rx.requests[0]["json"]
    assert body["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2026-11-10T16:03:20Z"
