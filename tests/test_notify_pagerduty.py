"""PagerDuty Events v2."""

from __future__ import annotations

from notify_receiver import Receiver, sample_batch
from warroom.notify.pagerduty import PagerDuty


def test_trigger_then_resolve_with_the_alerts_id_as_dedup_key() -> None:
    with Receiver(replies=[202, 202]) as rx:
        pd = PagerDuty("R0UTINGKEY", url=rx.url)
        pd.notify(sample_batch())
        pd.notify(sample_batch("resolved"))
    trigger, resolve = (r["json"] for r in rx.requests)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0UTINGKEY"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "warroom"
    assert trigger["payload"]["custom_details"]["scope"] == {"region": "US-CA", "method": "card"}
    assert resolve == {
        "routing_key": "R0UTINGKEY",
        "event_action": "resolve",
        "dedup_key": trigger["dedup_key"],
    }
