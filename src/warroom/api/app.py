"""The FastAPI application: one process holds the engine, the store and the web."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from warroom import __version__
from warroom.api import errors
from warroom.api.alerts_port import AlertFeed
from warroom.api.context import AppContext
from warroom.api.errors import ERROR_SCHEMA
from warroom.api.routers import (
    admin,
    alerts,
    campaigns,
    catalog,
    command,
    incidents,
    ingest,
    kpi,
    live,
    page,
    plans,
    quarantine,
    refunds,
    system,
)
from warroom.api.settings import ServeSettings
from warroom.command.clock import StreamClock

ROUTERS = (kpi, alerts, quarantine, ingest, live, command, admin, system, refunds, catalog, page)
ROUTERS += (plans, incidents)  # issue 5: plans, runs, switches, notices, incidents
ROUTERS += (campaigns,)  # issue 8: campaigns against target and plan


def create_app(
    settings: ServeSettings,
    alerts_feed: AlertFeed | None = None,
    *,
    clock: StreamClock | None = None,  # command's timers; tests pass one on a FakeClock
) -> FastAPI:
    ctx = AppContext(settings, alerts_feed, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ctx.start()
        try:
            yield
        finally:
            await ctx.stop()

    app = FastAPI(
        title="warroom",
        version=__version__,
        description="The war room's API: KPIs, alerts, quarantine, ingest and the live stream. "
        'Every error is {"error": {"code", "message", "field"?}}.',
        lifespan=lifespan,
        responses={
            401: ERROR_SCHEMA,
            403: ERROR_SCHEMA,
            404: ERROR_SCHEMA,
            422: ERROR_SCHEMA,
        },
    )
    app.state.ctx = ctx
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    return app
