"""Ingest: rate limit, then decode and hand to the pipeline; answer once committed."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from warroom.api.context import AppContext
from warroom.api.errors import ApiError
from warroom.api.ratelimit import retry_after


async def ingest(*, ctx: AppContext, body: bytes, caller: str) -> dict[str, Any]:
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    wait = ctx.limiter.take(caller, max(lines, 1))
    if wait > 0:
        ctx.telemetry.ingest_requests.labels("rate_limited").inc()
        raise ApiError(
            429,
            f"over the ingest rate of {ctx.limiter.rate:,.0f} records/s; retry later",
            headers={"Retry-After": retry_after(wait)},
        )
    with ctx.telemetry.ingest_seconds.time():
        try:
            done = await asyncio.to_thread(ctx.pipeline.submit, body)
        except TimeoutError as exc:
            ctx.telemetry.ingest_requests.labels("busy").inc()
            raise ApiError(503, "the engine is busy; retry", headers={"Retry-After": "1"}) from exc
        result = await asyncio.wrap_future(done)
    ctx.telemetry.ingest_requests.labels("ok").inc()
    return asdict(result)
