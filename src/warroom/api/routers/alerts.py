"""Alerts from the watch and from Alertmanager: read them, acknowledge them, own them,
silence them. Every change is audited; the book (alerts/service.py) does the work.

Permissions: `read` (viewer and up) for reads; `acknowledge` (watcher and up) for
acknowledgement, owner and silences; `ingest` (a machine token) for Alertmanager's
webhook, which Alertmanager sends with `http_config.authorization` (a bearer token).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from warroom.alerts import amwebhook
from warroom.alerts.errors import InvalidInput, NotFound
from warroom.alerts.model import SOURCES
from warroom.alerts.service import AlertBook
from warroom.api.errors import ApiError
from warroom.api.models import AckReply
from warroom.api.security import Principal, require
from warroom.audit import AuditEvent

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
AlertId = Annotated[str, Path(max_length=200)]
Source = Literal["kpi", "catalog", "refund", "ingest"]
MAX_MS = 1 << 53  # far beyond any sale; keeps times inside SQLite's integers
assert set(SOURCES) == set(Source.__args__)  # type: ignore[attr-defined]


# -- bodies ---------------------------------------------------------------------------
class OwnerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str = Field(max_length=100, description="who handles it; empty clears the owner")


class RecurrenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_minute: int = Field(ge=0, le=1440, description="minutes after local midnight")
    end_minute: int = Field(ge=0, le=1440, description="before start_minute: wraps midnight")
    weekdays: list[int] = Field(
        [0, 1, 2, 3, 4, 5, 6], min_length=1, max_length=7, description="Monday = 0"
    )
    utc_offset_minutes: int = Field(480, ge=-840, le=840, description="480: Beijing")


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[Annotated[str, Field(max_length=300)]] = Field(
        min_length=1, max_length=20, description='Alertmanager matchers, e.g. region="CN-ZJ"'
    )
    starts: int | None = Field(None, ge=0, le=MAX_MS, description="event time, epoch ms")
    ends: int | None = Field(None, ge=0, le=MAX_MS, description="event time, epoch ms")
    duration_minutes: float | None = Field(None, gt=0, le=366 * 1440, description="or this")
    comment: str = Field("", max_length=500)
    recurrence: RecurrenceIn | None = Field(None, description="only within these daily hours")


class AmAlert(BaseModel):
    """One alert of Alertmanager's webhook (v4); unknown fields are ignored."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str = ""  # Alertmanager's field names
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class AmWebhook(BaseModel):
    """Alertmanager's webhook body, version 4."""

    version: str = "4"
    groupKey: str = ""
    status: str = ""
    receiver: str = ""
    alerts: list[AmAlert] = Field(max_length=10_000)


class AmReply(BaseModel):
    received: int
    changed: int = Field(description="alerts opened or resolved (the rest were repeats)")
    ids: list[str]


# -- helpers --------------------------------------------------------------------------
def _book(request: Request) -> AlertBook:
    feed = request.app.state.ctx.alerts
    if not isinstance(feed, AlertBook):
        raise ApiError(503, "the watch does not run in this server")
    return feed


async def _call(fn: Any, /, **kwargs: Any) -> Any:
    """The book in the thread pool (SQLite), its errors as API errors."""
    try:
        return await run_in_threadpool(lambda: fn(**kwargs))
    except InvalidInput as exc:
        raise ApiError(422, exc.rule, field=exc.field) from exc
    except NotFound as exc:
        field, _, message = str(exc).partition(": ")
        raise ApiError(404, message or field, field=field if message else None) from exc


async def _audit(
    request: Request, who: Principal, action: str, target: str, ok: bool, detail: str = ""
) -> None:
    event = AuditEvent(who.actor, action, target, "ok" if ok else "failed", detail)
    await run_in_threadpool(request.app.state.ctx.audit.record, event)


# -- reads ----------------------------------------------------------------------------
@router.get("", dependencies=[Depends(require("read"))], summary="Recent alerts, newest first")
async def list_alerts(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: Literal["firing", "resolved"] | None = None,
    source: Source | None = None,
    muted: Annotated[bool, Query(description="include silenced and inhibited alerts")] = True,
) -> dict[str, Any]:
    feed = request.app.state.ctx.alerts
    if not isinstance(feed, AlertBook):  # a plain AlertFeed: no filters but the state
        return {"alerts": await run_in_threadpool(lambda: feed.recent(limit=limit, state=state))}
    alerts = await _call(
        feed.list_alerts, state=state, limit=limit, source=source, include_muted=muted
    )
    return {"alerts": alerts}


@router.get(
    "/silences", dependencies=[Depends(require("read"))], summary="Silences in force or to come"
)
async def list_silences(request: Request) -> dict[str, Any]:
    book = _book(request)
    return {"silences": await _call(book.list_silences), "now": book.now}


@router.post("/silences", status_code=201, summary="Silence alerts (optionally every day)")
async def create_silence(
    request: Request,
    body: SilenceRequest,
    who: Annotated[Principal, Depends(require("acknowledge"))],
) -> dict[str, Any]:
    book = _book(request)
    starts = body.starts if body.starts is not None else book.now
    if (body.ends is None) == (body.duration_minutes is None):
        raise ApiError(422, "give either ends or duration_minutes", field="ends")
    ends = body.ends if body.ends is not None else starts + int(body.duration_minutes * 60_000)  # type: ignore[operator]
    rec = body.recurrence.model_dump() if body.recurrence is not None else None
    try:
        made = await _call(
            book.create_silence,
            matchers=body.matchers,
            starts=starts,
            ends=ends,
            created_by=who.actor,
            comment=body.comment,
            recurrence=rec,
        )
    except ApiError as exc:
        await _audit(request, who, "silence.create", "silence", False, exc.message)
        raise
    await _audit(request, who, "silence.create", f"silence:{made['id']}", True, str(body.matchers))
    return made


@router.delete("/silences/{silence_id}", summary="End a silence")
async def delete_silence(
    request: Request,
    silence_id: Annotated[str, Path(max_length=100)],
    who: Annotated[Principal, Depends(require("acknowledge"))],
) -> dict[str, Any]:
    book = _book(request)
    try:
        await _call(book.delete_silence, silence_id=silence_id, actor=who.actor)
    except ApiError:
        await _audit(request, who, "silence.delete", f"silence:{silence_id}", False)
        raise
    await _audit(request, who, "silence.delete", f"silence:{silence_id}", True)
    return {"id": silence_id, "deleted": True}


@router.get(
    "/notifications",
    dependencies=[Depends(require("read"))],
    summary="Notification groups and the latest deliveries",
)
async def notifications(
    request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    book = _book(request)
    watch = request.app.state.ctx.watch
    return {
        "groups": await _call(book.groups),
        "deliveries": watch.notifications(limit) if watch is not None else [],
        # is the watch keeping up with the stream? (steps are finalised batches of seconds)
        "watch": None
        if watch is None
        else {
            "steps_judged": watch.processed,
            "steps_waiting": watch.submitted - watch.processed,
            "steps_failed": watch.failed,
            "receivers": sorted(watch.config.receivers) if watch.config else [],
        },
    }


@router.get(
    "/history", dependencies=[Depends(require("read"))], summary="Every alert action, newest first"
)
async def history(
    request: Request, limit: Annotated[int, Query(ge=1, le=5000)] = 200
) -> dict[str, Any]:
    return {"history": await _call(_book(request).history, limit=limit)}


@router.post("/alertmanager", summary="Alertmanager's webhook (v4): Prometheus rules open alerts")
async def alertmanager(
    request: Request,
    body: AmWebhook,
    who: Annotated[Principal, Depends(require("ingest"))],
) -> AmReply:
    book = _book(request)
    try:
        alerts = amwebhook.parse(body.model_dump())
    except InvalidInput as exc:
        await _audit(request, who, "alertmanager", "alerts", False, str(exc))
        raise ApiError(422, exc.rule, field=exc.field) from exc
    changed = 0
    for a in alerts:
        changed += bool(await _call(book.ingest, alert=a))
    ids = [a.id for a in alerts]
    await _audit(request, who, "alertmanager", "alerts", True, f"{changed} changed: {ids[:20]}")
    return AmReply(received=len(alerts), changed=changed, ids=ids)


@router.get(
    "/{alert_id}", dependencies=[Depends(require("read"))], summary="One alert, with history"
)
async def one_alert(
    request: Request,
    alert_id: AlertId,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    book = _book(request)
    view = await _call(book.get, alert_id=alert_id)
    return {**view, "history": await _call(book.history, alert_id=alert_id, limit=limit)}


# -- changes --------------------------------------------------------------------------
@router.post("/{alert_id}/ack", summary="Acknowledge an alert")
async def acknowledge(
    request: Request,
    alert_id: AlertId,
    who: Annotated[Principal, Depends(require("acknowledge"))],
) -> AckReply:
    ctx = request.app.state.ctx
    found = await run_in_threadpool(
        lambda: ctx.alerts.acknowledge(alert_id=alert_id, actor=who.actor)
    )
    await _audit(request, who, "acknowledge", f"alert:{alert_id}", found)
    if not found:
        raise ApiError(404, f"no alert {alert_id!r}", field="alert_id")
    return AckReply(id=alert_id, acknowledged_by=who.actor)


@router.put("/{alert_id}/owner", summary="Set (or clear) who handles an alert")
async def set_owner(
    request: Request,
    alert_id: AlertId,
    body: OwnerRequest,
    who: Annotated[Principal, Depends(require("acknowledge"))],
) -> dict[str, Any]:
    book = _book(request)
    try:
        view = await _call(book.set_owner, alert_id=alert_id, owner=body.owner, actor=who.actor)
    except ApiError:
        await _audit(request, who, "alert.owner", f"alert:{alert_id}", False, body.owner)
        raise
    await _audit(request, who, "alert.owner", f"alert:{alert_id}", True, body.owner)
    return view
