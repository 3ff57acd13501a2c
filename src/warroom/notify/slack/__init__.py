"""Slack incoming webhook. Slack authenticates these by the secret in the URL; they
carry no signature (Slack's `v0` signing covers requests *from* Slack)."""

from __future__ import annotations

from typing import Any

import httpx

from warroom.alerts.dispatch import Batch
from warroom.notify.base import line, post_json, text


def payload(batch: Batch) -> dict[str, Any]:
    title = text(batch).splitlines()[0]
    return {
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(line(a) for a in batch.alerts)},
            },
        ],
    }


class Slack:
    name = "slack"

    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        self.url = url
        self.client = client or httpx.Client(timeout=10.0)

    def notify(self, batch: Batch) -> None:
        post_json(self.client, self.url, payload(batch))
