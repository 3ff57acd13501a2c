"""Retries with backoff on 5xx and time-outs, none on 4xx; the log stops re-sends."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from notify_receiver import Receiver, sample_batch
from warroom.notify.nflog import NotificationLog
from warroom.notify.sender import Sender
from warroom.notify.webhook import Webhook


def sender(tmp_path, url: str, timeout: float = 5.0) -> tuple[Sender, list[float]]:  # type: ignore[no-untyped-def]
    waits: list[float] = []
    log = NotificationLog(sa.create_engine(f"sqlite:///{tmp_path / 'nf.db'}"))
    hook = Webhook(url, client=httpx.Client(timeout=timeout))
    return Sender({"ops": [hook]}, log, attempts=4, backoff_s=0.5, sleep=waits.append), waits


def test_retries_5xx_with_exponential_backoff(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Receiver(replies=[503, 500]) as rx:
        s, waits = sender(tmp_path, rx.url)
        (out,) = s(sample_batch())
    assert out.sent and out.attempts == 3
    assert waits == [0.5, 1.0]
    assert len(rx.requests) == 3


def test_no_retry_on_4xx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Receiver(replies=[400]) as rx:
        s, waits = sender(tmp_path, rx.url)
        (out,) = s(sample_batch())
    assert not out.sent and out.attempts == 1 and "400" in out.error
    assert waits == [] and len(rx.requests) == 1


def test_timeout_is_retried(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Receiver(delay=0.3) as rx:
        s, waits = sender(tmp_path, rx.url, timeout=0.05)
        (out,) = s(sample_batch())
    assert not out.sent and out.attempts == 4 and "timed out" in out.error
    assert waits == [0.5, 1.0, 2.0]


def test_a_restart_resends_nothing_already_sent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Receiver() as rx:
        s, _ = sender(tmp_path, rx.url)
        assert s(sample_batch())[0].attempts == 1
        again, _ = sender(tmp_path, rx.url)  # a new process on the same store
        (out,) = again(sample_batch())
        assert out.skipped
        assert again(sample_batch("resolved"))[0].attempts == 1  # news is sent
    assert [r["json"]["status"] for r in rx.requests] == ["firing", "resolved"]


def test_unknown_receiver_sends_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s, _ = sender(tmp_path, "http://127.0.0.1:9/never")
    batch = sample_batch()
    batch.receiver = "nobody"
    assert s(batch) == []
