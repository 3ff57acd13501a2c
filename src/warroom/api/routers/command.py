"""Command: a message broadcast to every wall (permission: broadcast)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.models import BroadcastRequest
from warroom.api.security import Principal, require
from warroom.audit import AuditEvent

router = APIRouter(prefix="/api/v1/broadcast", tags=["command"])


@router.post("", summary="Show a message on every wall")
async def broadcast(
    request: Request,
    body: BroadcastRequest,
    who: Annotated[Principal, Depends(require("broadcast"))],
) -> dict[str, Any]:
    ctx = request.app.state.ctx
    ctx.broadcast = {"message": body.message, "by": who.actor, "utc_ms": int(time.time() * 1000)}
    await run_in_threadpool(
        ctx.audit.record, AuditEvent(who.actor, "broadcast", "walls", "ok", body.message)
    )
    return ctx.broadcast


@router.delete("", summary="Clear the broadcast message")
async def clear(
    request: Request, who: Annotated[Principal, Depends(require("broadcast"))]
) -> dict[str, Any]:
    ctx = request.app.state.ctx
    ctx.broadcast = None
    await run_in_threadpool(
        ctx.audit.record, AuditEvent(who.actor, "broadcast.clear", "walls", "ok")
    )
    return {"cleared": True}
