"""`warroom bench-web`'s load generator offers its load open loop (on 127.0.0.1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from warroom.api.bench import load

ANSWER_S = 0.4  # the server under test takes this long to answer each batch


@pytest.fixture
def slow_server() -> Iterator[tuple[SimpleNamespace, list[float]]]:
    """An ingest endpoint that notes when each batch arrived and answers after 0.4 s."""
    arrived: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.append(time.time())
            time.sleep(ANSWER_S)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        yield SimpleNamespace(url=url, token="t"), arrived
    finally:
        httpd.shutdown()


def test_batches_go_out_when_due_whatever_the_answers_take(
    slow_server: tuple[SimpleNamespace, list[float]],
) -> None:
    """20 batches a second against 0.4 s answers: a sender waiting for each answer would
    send 2.5 a second; with 16 connections every batch leaves on schedule, and its
    acknowledgement is counted from when it was due."""
    server, arrived = slow_server
    run = load(server, rate=20 * 100, seconds=2.0, batch_records=100, senders=16)  # type: ignore[arg-type]
    assert len(run["due_ms"]) == 40 and run["records"] == run["offered"] == 4_000
    assert len(arrived) == 40
    assert run["max_send_lag_s"] < 0.2
    assert min(run["ack_s"]) >= ANSWER_S
    assert max(run["ack_s"]) < ANSWER_S + 0.5


def test_a_server_that_falls_behind_shows_it_in_the_latency(
    slow_server: tuple[SimpleNamespace, list[float]],
) -> None:
    """With 2 connections the same server takes 5 batches a second of the 20 offered:
    the batches queue in the generator, each one's latency counts its wait from when it
    was due (no coordinated omission), and what is not sent in the offered time is not
    sent at all."""
    server, arrived = slow_server
    run = load(server, rate=20 * 100, seconds=2.0, batch_records=100, senders=2)  # type: ignore[arg-type]
    assert 6 <= len(arrived) <= 14  # about 2 s x 5 a second, not 40
    assert len(run["due_ms"]) == len(arrived) and run["offered"] == 4_000
    assert run["max_send_lag_s"] > 1.0
    assert max(run["ack_s"]) > 1.0 + ANSWER_S  # the queue's wait is in the latency
