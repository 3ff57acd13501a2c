"""Feishu (Lark) custom bot, signed as its docs say: timestamp in seconds,
sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")), both in the body."""

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


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def payload(batch: Batch) -> dict[str, Any]:
    return {"msg_type": "text", "content": {"text": text(batch)}}


class Feishu:
    name = "feishu"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        client: httpx.Client | None = None,
        now_s: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        self.url, self.secret, self.now_s = url, secret, now_s
        self.client = client or httpx.Client(timeout=10.0)

    def notify(self, batch: Batch) -> None:
        body = payload(batch)
        if self.secret:
            ts = self.now_s()
            body = {"timestamp": str(ts), "sign": sign(self.secret, ts), **body}
        resp = post_json(self.client, self.url, body)
        check_robot_reply(resp, "code")
