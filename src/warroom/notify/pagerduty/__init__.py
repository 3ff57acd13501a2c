"""PagerDuty Events API v2: one trigger or resolve event per alert, deduplicated by
the alert's id so that PagerDuty's incident follows the alert's life."""

from __future__ import annotations

from typing import Any

import httpx

from warroom.alerts.dispatch import Batch
from warroom.alerts.model import Alert, scope_text
from warroom.notify.base import iso, post_json

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def event(alert: Alert, routing_key: str) -> dict[str, Any]:
    if alert.state == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.id}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.id,
        "payload": {
            "summary": alert.summary[:1024],
            "source": "warroom",
            "severity": _SEVERITY.get(alert.severity, "warning"),
            "timestamp": iso(alert.ts),
            "component": alert.metric,
            "group": scope_text(alert.scope),
            "class": alert.direction,
            "custom_details": {
                "scope": alert.scope,
                "observed": alert.observed,
                "expected": alert.expected,
                "score": alert.score,
            },
        },
    }


class PagerDuty:
    name = "pagerduty"

    def __init__(
        self, routing_key: str, url: str = EVENTS_URL, client: httpx.Client | None = None
    ) -> None:
        self.routing_key, self.url = routing_key, url
        self.client = client or httpx.Client(timeout=10.0)

    def notify(self, batch: Batch) -> None:
        # PagerDuty deduplicates by dedup_key, so a retry that re-sends events
        # already accepted does no harm
        for alert in batch.alerts:
            post_json(self.client, self.url, event(alert, self.routing_key))
