"""A generic webhook carrying Alertmanager's v4 payload, so that any receiver written
for Alertmanager reads warroom's alerts as they are."""

from __future__ import annotations

from typing import Any

import httpx

from warroom.alerts.dispatch import Batch
from warroom.alerts.model import Alert
from warroom.notify.base import iso, post_json

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert


def payload(batch: Batch, external_url: str = "") -> dict[str, Any]:
    alerts = [_alert(a, external_url) for a in batch.alerts]
    common = _common([a["labels"] for a in alerts])
    return {
        "version": "4",
        "groupKey": batch.group_key,
        "truncatedAlerts": 0,
        "status": "firing" if batch.firing else "resolved",
        "receiver": batch.receiver,
        "groupLabels": batch.group_labels,
        "commonLabels": common,
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "alerts": alerts,
    }


def _alert(a: Alert, external_url: str) -> dict[str, Any]:
    return {
        "status": a.state,
        "labels": a.labels,
        "annotations": {
            "summary": a.summary,
            "observed": str(a.observed),
            "expected": str(a.expected),
            "score": str(a.score),
        },
        "startsAt": iso(a.ts) if a.state == "firing" else "",
        "endsAt": iso(a.ts) if a.state == "resolved" else ZERO_TIME,
        "generatorURL": f"{external_url}/alerts/{a.id}" if external_url else "",
        "fingerprint": a.id,
    }


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


class Webhook:
    name = "webhook"

    def __init__(
        self, url: str, client: httpx.Client | None = None, external_url: str = ""
    ) -> None:
        self.url, self.external_url = url, external_url
        self.client = client or httpx.Client(timeout=10.0)

    def notify(self, batch: Batch) -> None:
        post_json(self.client, self.url, payload(batch, self.external_url))
