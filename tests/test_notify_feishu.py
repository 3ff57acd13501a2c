"""Feishu bot: signature against a fixed vector (checked with openssl)."""

from __future__ import annotations

import pytest

from notify_receiver import Receiver, sample_batch
from warroom.notify.base import NotifyError
from warroom.notify.feishu import Feishu, sign

# printf '' | openssl dgst -sha256 -hmac "$(printf '1700000000\nfeishu-secret')" -binary | base64
VECTOR = "OrBzY1Y01Gq+HgJsl+7OfWcMVwc7YocohQm5iiZwjhU="


def test_fixed_vector() -> None:
    assert sign("feishu-secret", 1_700_000_000) == VECTOR


def test_signed_body() -> None:
    with Receiver(body={"code": 0, "msg": "success"}) as rx:
        Feishu(rx.url, "feishu-secret", now_s=lambda: 1_700_000_000).notify(sample_batch())
    body = rx.requests[0]["json"]
    assert body["timestamp"] == "1700000000" and body["sign"] == VECTOR
    assert body["msg_type"] == "text" and "US-CA" in body["content"]["text"]


def test_unsigned_when_no_secret_and_refusal_not_retryable() -> None:
    with (
        Receiver(body={"code": 19021, "msg": "sign match fail"}) as rx,
        pytest.raises(NotifyError) as err,
    ):
        Feishu(rx.url).notify(sample_batch())
    assert "sign" not in rx.requests[0]["json"]
    assert err.value.retryable is False
