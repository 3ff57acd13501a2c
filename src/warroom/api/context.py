"""Everything one server process holds: the runner and its store, the wall, the stream."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from warroom.api.alerts_port import AlertFeed
from warroom.api.pipeline import Pipeline
from warroom.api.ratelimit import RateLimiter
from warroom.api.services.kpi import exact_rate
from warroom.api.settings import ServeSettings
from warroom.api.stream import Broadcaster
from warroom.api.telemetry import Telemetry
from warroom.api.wall import LiveWall
from warroom.api.watch import ServerWatch
from warroom.audit import AuditLog
from warroom.audit.logins import LoginAudit
from warroom.auth.tokens import TokenStore
from warroom.campaigns.service import wall_cards
from warroom.command.clock import StreamClock
from warroom.command.live import LiveCommand
from warroom.engine.engine import SECOND, StepResult
from warroom.guards.catalog.server import ServerCatalog
from warroom.guards.refunds.queue import ReviewQueue
from warroom.guards.refunds.stream import attach_run as attach_refunds
from warroom.runner import Runner, RunOptions

TUNABLE = ("stale_after_seconds", "ingest_records_per_second")  # what admins may change live


class AppContext:
    def __init__(
        self,
        settings: ServeSettings,
        alerts: AlertFeed | None = None,
        *,
        clock: StreamClock | None = None,
    ) -> None:
        self.settings = settings
        opts = RunOptions(
            events=settings.events or "-",
            data_dir=settings.data_dir,
            rates=settings.rates,
            catalog=settings.catalog,
            checkpoint_seconds=settings.checkpoint_seconds,
        )
        self.runner = Runner(opts, on_step=self._on_step)
        self.store = self.runner.store
        self._load_settings()
        rates = self.runner.rates
        self.base = rates.base
        # base units per unit of each currency: the wall converts its other panels by it
        # (a view); `text` is the exact rate as recorded with the run
        self.display_rates = {
            code: {"rate": r.num / 10**r.scale, "text": exact_rate(r), "digits": r.digits}
            for code, r in sorted(rates.rates.items())
        }
        self.wall = LiveWall(rates.base_digits, minor_digits=rates.minor_digits)
        self.wall.load(self.store)
        self.pipeline = Pipeline(self.runner, settings.checkpoint_seconds)
        self.tokens = TokenStore(self.store.engine)
        self.audit = AuditLog(self.store.engine)
        self.tokens = LoginAudit(self.tokens, self.audit)  # type: ignore[assignment]
        # command (issue 5): timers on the stream's time, running on the wall between
        # events; loops that time out, escalate and deliver merchant notices
        self.live_command = LiveCommand(
            engine=self.store.engine,
            runner=self.runner,
            data_dir=settings.data_dir,
            event_ms=self.wall.event_time,
            closing=lambda: self.stream.closing,
            clock=clock,
        )
        self.command, self.feed = self.live_command.command, self.live_command.feed
        self.watch: ServerWatch | None = None
        if alerts is None:  # the watch on the live stream feeds the book (tests may give a feed)
            self.watch = ServerWatch.from_file(self.runner, settings.alerts_config)
            self.watch.attach()
            alerts = self.watch.book
        self.alerts: AlertFeed = alerts
        # the catalog guard (issue 6) on the same steps; its alerts go to the book above
        self.catalog: ServerCatalog | None = None
        if settings.catalog is not None:
            self.catalog = ServerCatalog(self.runner, settings.catalog, lambda: self.alerts)
        # worry-free refunds (issue 7): each refund decided as it arrives, held ones queued
        self.refunds, self.refund_thread = attach_refunds(
            self.runner, None, settings.refund_policy, background=True
        )
        self.refund_queue = ReviewQueue(self.store.engine)
        self._refund_figures: tuple[float, dict[str, Any]] = (float("-inf"), {})
        self.limiter = RateLimiter(settings.ingest_records_per_second)
        self.stream = Broadcaster(self.frame, settings.tick_seconds, settings.frames_kept)
        self.telemetry = Telemetry(self)
        self.broadcast: dict[str, Any] | None = None

    def _on_step(self, step: StepResult) -> None:
        cells = step.cells.get(SECOND)
        if cells is not None and cells.height:
            self.wall.add(self.runner.engine.label(cells))

    async def start(self) -> None:
        if self.watch is not None:
            self.watch.start()
        self.pipeline.start()
        if self.settings.events:
            self.pipeline.follow_file(self.settings.events, self.settings.speed)
        await self.stream.start()
        await self.live_command.start()

    async def stop(self) -> None:
        await self.live_command.stop()
        await self.stream.stop()
        self.pipeline.stop()
        self.live_command.index.close()  # after the writer's last checkpoint
        if self.refund_thread is not None:
            self.refund_thread.close()
        if self.watch is not None:
            self.watch.stop()  # after the writer: it judges the last steps queued
        if self.catalog is not None:
            self.catalog.stop()  # after the writer: saves the findings' last changes

    # -- settings -----------------------------------------------------------------
    def _load_settings(self) -> None:
        stored = self.store.get_meta("api_settings")
        for key, value in (json.loads(stored) if stored else {}).items():
            if key in TUNABLE:
                setattr(self.settings, key, float(value))

    def tunables(self) -> dict[str, float]:
        return {k: float(getattr(self.settings, k)) for k in TUNABLE}

    def update_settings(self, values: dict[str, float]) -> dict[str, float]:
        for key, value in values.items():
            setattr(self.settings, key, float(value))
        self.limiter.rate = self.settings.ingest_records_per_second
        self.store.set_meta({"api_settings": json.dumps(self.tunables())})
        return self.tunables()

    # -- frames -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = time.time()
        last = self.pipeline.last_step_wall
        idle = now - last if last else None
        return {
            "counters": asdict(self.runner.engine.counters),
            "event_time": self.wall.event_time,
            "seconds_since_last_batch": None if idle is None else round(idle, 3),
            "stale": idle is None or idle > self.settings.stale_after_seconds,
            "sse_clients": self.stream.clients,
            "base_currency": self.base,
        }

    def refund_figures(self, max_age: float = 5.0) -> dict[str, Any]:
        """Refund rate, auto-approved share, held amount: one small query every 5 s."""
        at, figures = self._refund_figures
        if time.monotonic() - at >= max_age:
            figures = self.refund_queue.summary()
            self._refund_figures = (time.monotonic(), figures)
        return figures

    def frame(self, kind: str) -> dict[str, Any]:
        """One stream frame; a snapshot carries the whole series, a tick what changed."""
        points = self.wall.series() if kind == "snapshot" else self.wall.take_changes()
        out = {
            "kind": kind,
            "server_ms": int(time.time() * 1000),
            **self.wall.figures(),
            "points": points,
            "status": self.status(),
            "alerts": self.alerts.recent(limit=20),
            "broadcast": self.broadcast,
            "catalog": self.catalog.frame() if self.catalog is not None else None,
        }
        out["campaigns"] = wall_cards(self)  # issue 8: cards, refreshed off the loop
        out["refunds"] = self.refund_figures()
        if kind == "snapshot":
            out["base_currency"] = self.base
            out["rates"] = self.display_rates
        return out
