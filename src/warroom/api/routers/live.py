"""The live stream (SSE), the wall's current figures and the process status (read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from warroom.api.security import require

router = APIRouter(prefix="/api/v1", tags=["live"], dependencies=[Depends(require("read"))])


@router.get(
    "/stream",
    summary="Server-Sent Events: one frame per tick; Last-Event-ID replays missed frames",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(
    request: Request,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
    resume: Annotated[
        str | None,
        Query(alias="last_event_id", max_length=100, description="for a new EventSource"),
    ] = None,
) -> StreamingResponse:
    events = request.app.state.ctx.stream.events(last_event_id or resume)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/wall", summary="The wall's figures now (the stream's snapshot frame)")
async def wall(request: Request) -> dict[str, Any]:
    return request.app.state.ctx.frame("snapshot")


@router.get("/status", summary="Counters, event time, staleness, stream clients")
async def status(request: Request) -> dict[str, Any]:
    return request.app.state.ctx.status()
