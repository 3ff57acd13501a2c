"""A receiver on 127.0.0.1 for notifier tests: records requests, answers as told."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from warroom.alerts.dispatch import Batch
from warroom.alerts.model import Alert, alert_id


class Receiver:
    """`replies`: status codes to answer in turn (then 200); `delay`: seconds to wait
    before answering (for time-outs); `body`: JSON to answer with."""

    def __init__(
        self, replies: list[int] | None = None, delay: float = 0.0, body: Any = None
    ) -> None:
        self.replies, self.delay, self.body = list(replies or []), delay, body
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
                )
                if outer.delay:
                    time.sleep(outer.delay)
                status = outer.replies.pop(0) if outer.replies else 200
                out = json.dumps(outer.body if outer.body is not None else {}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:  # the client gave up (time-out test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def sample_alert(state: str = "firing", ts: int = 1_794_326_600_000) -> Alert:
    scope = {"region": "US-CA", "method": "card"}
    return Alert(
        id=alert_id("payment_success_rate", scope, "drop", 1_794_326_599_000),
        state=state,  # type: ignore[arg-type]
        ts=ts,
        source="kpi",
        metric="payment_success_rate",
        scope=scope,
        direction="drop",
        observed=0.004,
        expected=0.938,
        score=0.62,
        severity="critical",
        summary="payment success rate drop in region=US-CA, method=card: 0.004 vs 0.938 expected",
    )


def sample_batch(state: str = "firing") -> Batch:
    a = sample_alert(state)
    return Batch(
        "ops",
        'ops:{"alertname": "payment_success_rate_drop"}',
        {"alertname": "payment_success_rate_drop"},
        [a],
        a.ts,
    )
