"""Everything one server process holds: the runner and its store, the wall, the stream."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from warroom.api.alerts_port import AlertFeed, NoAlerts
from warroom.api.pipeline import Pipeline
from warroom.api.ratelimit import RateLimiter
from warroom.api.settings import ServeSettings
from warroom.api.stream import Broadcaster
from warroom.api.telemetry import Telemetry
from warroom.api.wall import LiveWall
from warroom.audit import AuditLog
from warroom.auth.tokens import TokenStore
from warroom.engine.engine import SECOND, StepResult
from warroom.runner import Runner, RunOptions

TUNABLE = ("stale_after_seconds", "ingest_records_per_second")  # what admins may change live


class AppContext:
    def __init__(self, settings: ServeSettings, alerts: AlertFeed | None = None) -> None:
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
        # base units per unit of each currency, for the wall's "GMV in USD" view
        self.display_rates = {
            code: {"rate": r.num / 10**r.scale, "digits": r.digits}
            for code, r in sorted(rates.rates.items())
        }
        self.wall = LiveWall(rates.base_digits)
        self.wall.load(self.store)
        self.pipeline = Pipeline(self.runner, settings.checkpoint_seconds)
        self.tokens = TokenStore(self.store.engine)
        self.audit = AuditLog(self.store.engine)
        self.alerts: AlertFeed = alerts or NoAlerts()
        self.limiter = RateLimiter(settings.ingest_records_per_second)
        self.stream = Broadcaster(self.frame, settings.tick_seconds, settings.frames_kept)
        self.telemetry = Telemetry(self)
        self.broadcast: dict[str, Any] | None = None

    def _on_step(self, step: StepResult) -> None:
        cells = step.cells.get(SECOND)
        if cells is not None and cells.height:
            self.wall.add(self.runner.engine.label(cells))

    async def start(self) -> None:
        self.pipeline.start()
        if self.settings.events:
            self.pipeline.follow_file(self.settings.events, self.settings.speed)
        await self.stream.start()

    async def stop(self) -> None:
        await self.stream.stop()
        self.pipeline.stop()

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
        }
        if kind == "snapshot":
            out["base_currency"] = self.base
            out["rates"] = self.display_rates
        return out
