"""Merchant notices over HTTP to receivers on 127.0.0.1: delivered, retried after a 500,
failed for good on a 404, failed at once with no endpoint; the endpoints file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from notify_receiver import Receiver
from warroom.command.actions.merchants import deliver_due, outbox
from warroom.command.delivery import (
    ENV_FILE,
    ENV_URL,
    EndpointBook,
    Endpoints,
    HttpSender,
    endpoints_file,
    parse,
)
from warroom.command.errors import CommandError
from warroom.command.tables import create, outbox_t
from warroom.store.db import Store


def notices(engine: sa.Engine, merchants: list[str]) -> None:
    create(engine)
    with engine.begin() as c:
        c.execute(
            sa.insert(outbox_t),
            [
                {
                    "ref": "run:1/step:2",
                    "merchant_id": m,
                    "message": f"hold {m}",
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_ms": 0,
                    "last_error": "",
                }
                for m in merchants
            ],
        )


def states(engine: sa.Engine) -> dict[str, tuple[str, int, str]]:
    return {r["merchant_id"]: (r["state"], r["attempts"], r["last_error"]) for r in outbox(engine)}


def test_delivered_retried_and_failed_for_good(tmp_path: Path) -> None:
    engine = Store.open(tmp_path).engine
    notices(engine, ["m-ok", "m-flaky", "m-gone", "m-none"])
    (tmp_path / "merchants.yaml").write_text("merchants: {}\n")
    with Receiver() as ok, Receiver([500]) as flaky, Receiver([404]) as gone:
        book = EndpointBook(tmp_path / "merchants.yaml")
        (tmp_path / "merchants.yaml").write_text(
            json.dumps({"merchants": {"m-ok": ok.url, "m-flaky": flaky.url, "m-gone": gone.url}})
        )
        os.utime(tmp_path / "merchants.yaml", (1, 1))  # a sure change of mtime
        send = HttpSender(book)
        now = 1_000_000
        first = deliver_due(engine, send=send, now_ms=now)
        assert first == {"sent": 1, "retried": 1, "failed": 2}
        got = states(engine)
        assert got["m-ok"] == ("sent", 1, "")
        assert got["m-flaky"][:2] == ("pending", 1) and "HTTP 500" in got["m-flaky"][2]
        assert got["m-gone"][:2] == ("failed", 1) and "HTTP 404" in got["m-gone"][2]
        assert got["m-none"] == ("failed", 1, "no endpoint configured for merchant m-none")
        # the retry waits its backoff (2 s) on the delivering clock, then goes through
        assert deliver_due(engine, send=send, now_ms=now + 1_999)["sent"] == 0
        assert deliver_due(engine, send=send, now_ms=now + 2_000) == {
            "sent": 1,
            "retried": 0,
            "failed": 0,
        }
        assert states(engine)["m-flaky"][:2] == ("sent", 2)
        assert len(flaky.requests) == 2 and len(gone.requests) == 1  # a 404 is not retried
        body, headers = ok.requests[0]["json"], ok.requests[0]["headers"]
        notice_id = outbox(engine)[0]["id"]
        assert body == {
            "notice_id": notice_id,
            "merchant_id": "m-ok",
            "message": "hold m-ok",
            "ref": "run:1/step:2",
            "attempt": 1,
            "ack": f"/api/v1/merchant/notices/{notice_id}/ack",
        }
        assert headers["X-Warroom-Notice"] == str(notice_id)
        assert flaky.requests[1]["json"]["attempt"] == 2
        send.close()


def test_a_time_out_is_retried_until_the_attempts_run_out(tmp_path: Path) -> None:
    engine = Store.open(tmp_path).engine
    notices(engine, ["m-slow"])
    with Receiver(delay=0.5) as slow:
        path = tmp_path / "merchants.yaml"
        path.write_text(f"timeout: 100ms\nmerchants: {{m-slow: {slow.url}}}\n")
        send, now = HttpSender(EndpointBook(path)), 0
        for attempt in range(1, 4):
            out = deliver_due(engine, send=send, now_ms=now, max_attempts=3)
            assert out == (
                {"sent": 0, "retried": 1, "failed": 0}
                if attempt < 3
                else {
                    "sent": 0,
                    "retried": 0,
                    "failed": 1,
                }
            )
            now += 2_000 * 2 ** (attempt - 1)  # 2 s, then 4 s
        state, attempts, error = states(engine)["m-slow"]
        assert (state, attempts) == ("failed", 3) and "timed out" in error
        send.close()


def test_default_template_and_own_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_FILE, raising=False)
    monkeypatch.setenv(ENV_URL, "http://127.0.0.1:9/m/{merchant_id}/hook")
    assert endpoints_file(tmp_path) == tmp_path / "merchants.yaml"
    book = EndpointBook(tmp_path / "merchants.yaml")  # no file: the environment's template
    assert book.current().url_for("m 1/x") == "http://127.0.0.1:9/m/m%201%2Fx/hook"
    (tmp_path / "merchants.yaml").write_text(
        "default: http://127.0.0.1:9/d/{merchant_id}\nmerchants: {m-1: 'http://127.0.0.1:9/own'}\n"
    )
    ends = book.current()
    assert ends.url_for("m-1") == "http://127.0.0.1:9/own"
    assert ends.url_for("m-2") == "http://127.0.0.1:9/d/m-2"
    monkeypatch.setenv(ENV_FILE, str(tmp_path / "elsewhere.yaml"))
    assert endpoints_file(tmp_path) == tmp_path / "elsewhere.yaml"
    assert Endpoints().url_for("m-1") is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"merchants": {"m-1": "ftp://x"}}, "merchants.m-1: 'ftp://x' is not an http(s) URL"),
        ({"default": "http://x/{shop}"}, "only {merchant_id} may stand in the URL"),
        ({"timeout": "soon"}, "timeout: 'soon' is not a duration"),
        ({"merchant": {}}, "unknown keys merchant"),
        ([1], "expected a mapping"),
    ],
)
def test_bad_endpoint_files_are_named(doc: Any, message: str) -> None:
    with pytest.raises(CommandError) as err:
        parse(doc, where="merchants.yaml")
    assert str(err.value).startswith("merchants.yaml") and message in str(err.value)


def test_a_broken_edit_keeps_the_last_good_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "merchants.yaml"
    path.write_text("merchants: {m-1: 'http://127.0.0.1:9/a'}\n")
    book = EndpointBook(path)
    assert book.current().url_for("m-1") == "http://127.0.0.1:9/a"
    path.write_text("merchants: {m-1: [unclosed\n")
    os.utime(path, (2, 2))
    assert book.current().url_for("m-1") == "http://127.0.0.1:9/a"
    assert "merchants.yaml" in book.error
    path.write_text("merchants: {m-1: 'http://127.0.0.1:9/b'}\n")
    os.utime(path, (3, 3))
    assert book.current().url_for("m-1") == "http://127.0.0.1:9/b" and book.error == ""


def test_a_redirect_is_not_a_delivery(tmp_path: Path) -> None:
    engine = Store.open(tmp_path).engine
    notices(engine, ["m-1"])
    with Receiver([308]) as moved:
        path = tmp_path / "merchants.yaml"
        path.write_text(f"merchants: {{m-1: {moved.url}}}\n")
        send = HttpSender(EndpointBook(path))
        assert deliver_due(engine, send=send, now_ms=0)["failed"] == 1
        assert "HTTP 308" in states(engine)["m-1"][2]
        send.close()


def test_a_refused_connection_is_retried(tmp_path: Path) -> None:
    engine = Store.open(tmp_path).engine
    notices(engine, ["m-1"])
    with Receiver() as rx:
        url = rx.url  # the port is free again once the receiver is gone
    path = tmp_path / "merchants.yaml"
    path.write_text(f"merchants: {{m-1: {url}}}\n")
    send = HttpSender(EndpointBook(path), client=httpx.Client())
    assert deliver_due(engine, send=send, now_ms=0)["retried"] == 1
    assert states(engine)["m-1"][:2] == ("pending", 1)
    send.close()
