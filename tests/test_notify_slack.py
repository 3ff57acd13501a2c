"""Slack incoming webhook."""

from __future__ import annotations

from notify_receiver import Receiver, sample_batch
from warroom.notify.slack import Slack


def test_slack_message_names_the_scope_and_figures() -> None:
    with Receiver() as rx:
        Slack(rx.url).notify(sample_batch())
    body = rx.requests[0]["json"]
    assert body["text"] == "warroom: 1 firing in region=US-CA, method=card"
    section = body["blocks"][1]["text"]["text"]
    assert section.startswith("[CRITICAL] payment success rate drop")
    assert "0.004 vs 0.938" in section
