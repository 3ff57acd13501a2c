"""What every integration shares: the `Notifier` protocol, the retryable error, one
HTTP call that classifies failures, and text helpers.

As in Alertmanager (`Notify(...) (recoverable bool, err)`), a notifier raises
`NotifyError(retryable=...)`: 5xx and time-outs (and refused connections) are worth
retrying with backoff; a 4xx means the request itself is wrong and never will be.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from warroom.alerts.dispatch import Batch
from warroom.alerts.model import Alert, scope_text
from warroom.errors import WarroomError


class NotifyError(WarroomError):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    name: str  # the integration, e.g. "slack"

    def notify(self, batch: Batch) -> None:
        """Deliver the batch or raise NotifyError."""
        ...


def post_json(
    client: httpx.Client,
    url: str,
    payload: Any,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    try:
        resp = client.post(url, json=payload, params=params, headers=headers)
    except httpx.TimeoutException as exc:
        raise NotifyError(f"{url}: timed out ({exc})", retryable=True) from exc
    except httpx.TransportError as exc:
        raise NotifyError(f"{url}: {exc}", retryable=True) from exc
    if resp.status_code >= 500:
        raise NotifyError(f"{url}: HTTP {resp.status_code}", retryable=True)
    if resp.status_code >= 400:
        raise NotifyError(f"{url}: HTTP {resp.status_code}: {resp.text[:200]}", retryable=False)
    return resp


def check_robot_reply(resp: httpx.Response, code_field: str) -> None:
    """DingTalk and Feishu answer 200 with an error code in the body (bad signature,
    bad keyword): the request is wrong, so it is not retried."""
    try:
        body = resp.json()
    except ValueError:
        return
    code = body.get(code_field, 0) if isinstance(body, dict) else 0
    if code:
        msg = body.get("errmsg") or body.get("msg") or ""
        raise NotifyError(f"robot refused: {code_field}={code} {msg}", retryable=False)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z")


def line(alert: Alert) -> str:
    mark = "RESOLVED" if alert.state == "resolved" else alert.severity.upper()
    return f"[{mark}] {alert.summary}"


def text(batch: Batch) -> str:
    """A chat message: a title and one line per alert."""
    n = len(batch.firing)
    head = f"warroom: {n} firing" if n else "warroom: resolved"
    scopes = {scope_text(a.scope) for a in batch.alerts}
    if len(scopes) == 1:
        head += f" in {next(iter(scopes))}"
    return "\n".join([head, *(line(a) for a in batch.alerts)])
