"""DingTalk robot: signature against a fixed vector (checked with openssl)."""

from __future__ import annotations

import pytest

from notify_receiver import Receiver, sample_batch
from warroom.notify.base import NotifyError
from warroom.notify.dingtalk import DingTalk, sign

# printf '1700000000000\nSEC000secret' | openssl dgst -sha256 -hmac SEC000secret -binary | base64
VECTOR = "tTfOwY6eBcGZXnIEbxsq+Nl6fWOBelRgIv5rn6hl3fg="


def test_fixed_vector() -> None:
    assert sign("SEC000secret", 1_700_000_000_000) == VECTOR


def test_signed_request() -> None:
    with Receiver(body={"errcode": 0, "errmsg": "ok"}) as rx:
        DingTalk(rx.url, "SEC000secret", now_ms=lambda: 1_700_000_000_000).notify(sample_batch())
    req = rx.requests[0]
    assert "timestamp=1700000000000" in req["path"]
    assert "sign=tTfOwY6eBcGZXnIEbxsq%2BNl6fWOBelRgIv5rn6hl3fg%3D" in req["path"]
    assert req["json"]["msgtype"] == "text"
    assert "US-CA" in req["json"]["text"]["content"]


def test_robot_refusal_is_not_retryable() -> None:
    with (
        Receiver(body={"errcode": 310000, "errmsg": "sign not match"}) as rx,
        pytest.raises(NotifyError) as err,
    ):
        DingTalk(rx.url, "wrong").notify(sample_batch())
    assert err.value.retryable is False
