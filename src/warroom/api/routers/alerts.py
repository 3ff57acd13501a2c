"""Alerts from the watch (read) and their acknowledgement (acknowledge)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.errors import ApiError
from warroom.api.models import AckReply
from warroom.api.security import Principal, require
from warroom.audit import AuditEvent

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("", dependencies=[Depends(require("read"))], summary="Recent alerts, newest first")
async def list_alerts(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Literal["firing", "resolved"] | None = None,
) -> dict[str, Any]:
    feed = request.app.state.ctx.alerts
    return {"alerts": await run_in_threadpool(lambda: feed.recent(limit=limit, state=state))}


@router.post("/{alert_id}/ack", summary="Acknowledge an alert")
async def acknowledge(
    request: Request,
    alert_id: Annotated[str, Path(max_length=200)],
    who: Annotated[Principal, Depends(require("acknowledge"))],
) -> AckReply:
    ctx = request.app.state.ctx
    found = await run_in_threadpool(
        lambda: ctx.alerts.acknowledge(alert_id=alert_id, actor=who.actor)
    )
    await run_in_threadpool(
        ctx.audit.record,
        AuditEvent(who.actor, "acknowledge", f"alert:{alert_id}", "ok" if found else "failed"),
    )
    if not found:
        raise ApiError(404, f"no alert {alert_id!r}", field="alert_id")
    return AckReply(id=alert_id, acknowledged_by=who.actor)
