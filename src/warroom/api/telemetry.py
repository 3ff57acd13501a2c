"""/metrics: the process itself in Prometheus' text format (prometheus-client)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from warroom.api.context import AppContext


class _Live(Collector):
    """Read at scrape time from the engine and the stream, so nothing is double-kept."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = self.ctx.pipeline.runner.engine.counters
        for name, value, text in (
            ("records_read", c.read, "records read from every source"),
            ("records_accepted", c.accepted, "records aggregated"),
            ("records_quarantined", c.quarantined, "records quarantined (bad input)"),
            ("records_duplicate", c.duplicates, "duplicate deliveries dropped"),
            ("records_late", c.late, "records past the allowed lateness (counted, listed)"),
        ):
            yield CounterMetricFamily(f"warroom_{name}", text, value=value)
        last = self.ctx.pipeline.last_step_wall
        yield GaugeMetricFamily(
            "warroom_ingest_lag_seconds",
            "wall seconds since the engine last processed a batch",
            value=time.time() - last if last else float("nan"),
        )
        yield GaugeMetricFamily(
            "warroom_event_time_seconds",
            "newest finalised one-second window (event time, epoch seconds)",
            value=self.ctx.wall.event_time / 1000,
        )
        yield GaugeMetricFamily(
            "warroom_sse_clients", "open live-stream connections", value=self.ctx.stream.clients
        )
        yield GaugeMetricFamily(
            "warroom_ingest_queue",
            "batches waiting for the engine",
            value=self.ctx.pipeline.jobs.qsize(),
        )


class Telemetry:
    def __init__(self, ctx: AppContext) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Live(ctx))
        self.ingest_requests = Counter(
            "warroom_ingest_requests",
            "ingest requests by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "warroom_ingest_seconds",
            "ingest request time, decode to committed checkpoint",
            registry=self.registry,
        )
