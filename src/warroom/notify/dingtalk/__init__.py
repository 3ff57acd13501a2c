"""DingTalk custom robot, signed as its docs say ("加签"): timestamp in ms,
sign = urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))), both
passed as query parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import httpx

from warroom.alerts.dispatch import Batch
from warroom.notify.base import check_robot_reply, post_json, text


def sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature (httpx url-encodes it as a query parameter)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def payload(batch: Batch) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": text(batch)}}


class DingTalk:
    name = "dingtalk"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        client: httpx.Client | None = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.url, self.secret, self.now_ms = url, secret, now_ms
        self.client = client or httpx.Client(timeout=10.0)

    def notify(self, batch: Batch) -> None:
        params = None
        if self.secret:  # the robot checks the time: it is wall time, not event time
            ts = self.now_ms()
            params = {"timestamp": str(ts), "sign": sign(self.secret, ts)}
        resp = post_json(self.client, self.url, payload(batch), params=params)
        check_robot_reply(resp, "errcode")
