"""Cells -> watch -> alert book -> webhook on 127.0.0.1, on the event-time clock."""

from __future__ import annotations

import numpy as np
import polars as pl
import sqlalchemy as sa

from notify_receiver import Receiver
from test_detect_pipeline import MIDNIGHT, synthetic_cells
from warroom.alerts.dispatch import Route
from warroom.alerts.service import AlertBook
from warroom.detect.pipeline import Watch
from warroom.notify.nflog import NotificationLog
from warroom.notify.sender import Sender
from warroom.notify.webhook import Webhook


def test_dark_region_notified_once_grouped_then_resolved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    cells = synthetic_cells(np.random.default_rng(1), 360, dark=("CN-ZJ", 250, 280))
    with Receiver() as rx:
        sender = Sender({"ops": [Webhook(rx.url)]}, NotificationLog(engine), sleep=lambda s: None)
        route = Route("ops", group_by=("region",), group_wait_ms=2_000, group_interval_ms=10_000)
        book = AlertBook(engine, [route], on_batch=sender)
        watch = Watch(book.ingest, on_second=book.tick)  # type: ignore[arg-type]
        for win in cells["win"].unique().sort().to_list():
            watch.process(cells.filter(pl.col("win") == win))
    bodies = [r["json"] for r in rx.requests]
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    first = bodies[0]
    assert first["groupLabels"] == {"region": "CN-ZJ"}
    assert sorted(a["labels"]["metric"] for a in first["alerts"]) == ["orders", "visits"]
    dark_from = MIDNIGHT - 60_000 + 250_000
    assert all(a["endsAt"].startswith("0001") for a in first["alerts"])
    views = book.list_alerts()
    assert {v["state"] for v in views} == {"resolved"}
    assert all(dark_from < v["first_ts"] <= dark_from + 5_000 for v in views)
    assert len(book.history()) == 4  # two firings, two resolutions
