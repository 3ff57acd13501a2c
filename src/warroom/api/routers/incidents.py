"""Incidents over HTTP: declare (by hand, from an alert, from a plan), roles, status,
notes, the timeline, resolve, and the post-incident review as Markdown or HTML."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from warroom.api.errors import ApiError
from warroom.api.routers._cmd import call, command, person_of
from warroom.api.routers.plans import run_out, the_plan
from warroom.api.security import Principal, require
from warroom.api.services.kpi import series
from warroom.command.review import review_html, review_markdown

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
Read, Approve = Depends(require("read")), Depends(require("approve"))
Ack = Depends(require("acknowledge"))
IncidentId = Annotated[int, Path(ge=1, le=2**62)]  # SQLite integers are 64-bit
REVIEW_KPIS = ("gmv", "orders", "payment_success_rate")  # charted around the incident
MARGIN_MS = 30 * 60_000


class Declare(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("", max_length=200, description="required unless an alert is given")
    commander: str | None = Field(None, max_length=100, description="default: you")
    severity: Literal["info", "warning", "critical"] = "critical"
    alert: dict[str, Any] | None = Field(None, description="an alert (OUTPUTS.md) to start from")
    plan: str | None = Field(None, max_length=200, description="start this plan on the alert")


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person: str = Field(min_length=1, max_length=100)


class Status(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "mitigated", "resolved"]
    note: str = Field("", max_length=2000)


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


@router.get("", summary="Incidents, newest first")
async def incidents(
    request: Request,
    _who: Principal = Read,
    status: Literal["active", "mitigated", "resolved"] | None = None,
) -> list[dict[str, Any]]:
    return await call(command(request).incidents.list, status=status)


@router.post("", status_code=201, summary="Declare an incident (by hand, from an alert, a plan)")
async def declare(request: Request, body: Declare, who: Principal = Approve) -> dict:
    cmd, by = command(request), person_of(request, who)
    commander = body.commander or by
    run = None
    if body.plan is not None:
        if body.alert is None:
            raise ApiError(422, "plan: give the alert it starts from", field="plan")
        p = await the_plan(request, body.plan)
        incident_id, run_id = await call(
            cmd.start_from_alert, plan=p, alert=body.alert, commander=commander, by=by
        )
        run = run_out(await call(cmd.runs.get, run_id=run_id))
    elif body.alert is not None:
        incident_id = await call(
            cmd.incidents.declare_from_alert, alert=body.alert, commander=commander, by=by
        )
    else:
        if not body.title.strip():
            raise ApiError(422, "title: required", field="title")
        incident_id = await call(
            cmd.incidents.declare,
            title=body.title,
            commander=commander,
            by=by,
            severity=body.severity,
        )
    out = await call(cmd.incidents.get, incident_id=incident_id)
    return {**out, "run": run}


@router.get("/{incident_id}", summary="One incident: status, roles, its plan runs")
async def incident(
    request: Request, incident_id: IncidentId, _who: Principal = Read
) -> dict[str, Any]:
    cmd = command(request)
    out = await call(cmd.incidents.get, incident_id=incident_id)
    runs = await call(cmd.runs.list, incident_id=incident_id)
    return {**out, "runs": [run_out(r) for r in runs]}


@router.get("/{incident_id}/timeline", summary="Everything that happened, in order")
async def timeline(
    request: Request, incident_id: IncidentId, _who: Principal = Read
) -> list[dict[str, Any]]:
    cmd = command(request)
    await call(cmd.incidents.get, incident_id=incident_id)
    return await call(cmd.incidents.timeline, incident_id=incident_id)


@router.put("/{incident_id}/roles/{role}", summary="Give a role (commander, scribe, ...)")
async def assign(
    request: Request,
    incident_id: IncidentId,
    role: Annotated[str, Path(min_length=1, max_length=50)],
    body: Assign,
    who: Principal = Approve,
) -> dict[str, Any]:
    cmd = command(request)
    await call(
        cmd.incidents.assign,
        incident_id=incident_id,
        role=role,
        person=body.person,
        by=person_of(request, who),
    )
    return await call(cmd.incidents.get, incident_id=incident_id)


@router.post("/{incident_id}/status", summary="active → mitigated → resolved")
async def set_status(
    request: Request, incident_id: IncidentId, body: Status, who: Principal = Approve
) -> dict[str, Any]:
    cmd = command(request)
    await call(
        cmd.incidents.set_status,
        incident_id=incident_id,
        status=body.status,
        by=person_of(request, who),
        note=body.note,
    )
    return await call(cmd.incidents.get, incident_id=incident_id)


@router.post("/{incident_id}/notes", summary="Add a note to the timeline")
async def note(
    request: Request, incident_id: IncidentId, body: Note, who: Principal = Ack
) -> dict[str, Any]:
    cmd = command(request)
    incident = await call(cmd.incidents.get, incident_id=incident_id)
    if incident["status"] == "resolved":
        raise ApiError(409, f"incident {incident_id} is resolved")
    await call(
        cmd.incidents.record,
        actor=person_of(request, who),
        action="incident.note",
        target=f"incident:{incident_id}",
        detail=body.text,
        incident_id=incident_id,
        kind="note",
    )
    return {"incident_id": incident_id, "noted": True}


class AttachAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert: dict[str, Any] | None = Field(None, description="an alert record (OUTPUTS.md)")
    alert_id: str | None = Field(None, max_length=200, description="or the id of a recent one")


@router.post("/{incident_id}/alerts", summary="Put an alert on the incident's timeline")
async def attach_alert(
    request: Request, incident_id: IncidentId, body: AttachAlert, _who: Principal = Ack
) -> dict[str, Any]:
    """Alerts that fire while an incident runs belong on its timeline too: by record, or
    by the id of one the watch raised recently."""
    cmd, ctx = command(request), request.app.state.ctx
    alert = body.alert
    if (alert is None) == (body.alert_id is None):
        raise ApiError(422, "give either alert or alert_id", field="alert")
    if alert is None:
        recent = await run_in_threadpool(lambda: ctx.alerts.recent(limit=1000))
        alert = next((a for a in recent if a.get("id") == body.alert_id), None)
        if alert is None:
            raise ApiError(404, f"no recent alert {body.alert_id!r}", field="alert_id")
    incident = await call(cmd.incidents.get, incident_id=incident_id)
    if incident["status"] == "resolved":
        raise ApiError(409, f"incident {incident_id} is resolved")
    await call(cmd.incidents.add_alert, incident_id=incident_id, alert=alert)
    return {"incident_id": incident_id, "alert": alert.get("id")}


def _kpis(request: Request, incident: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """Minute series of a few KPIs from the incident's start - 30 min to its end + 30 min."""
    ctx = request.app.state.ctx
    start = incident["created_ms"] - MARGIN_MS
    end = (incident.get("resolved_ms") or ctx.command.clock.now_ms()) + MARGIN_MS
    out: dict[str, list[tuple[int, float]]] = {}
    for metric in REVIEW_KPIS:
        try:
            s = series(
                store=ctx.store,
                digits=ctx.runner.rates.base_digits,
                metric=metric,
                by=(),
                where=(),
                start=start,
                end=end,
                every="1m",
                limit=2000,
            )
        except Exception:  # a review without a chart beats no review
            continue
        pts = [(int(p["window_start"]), float(p["value"])) for p in s["points"] if p["value"]]
        if pts:
            out[metric] = pts
    return out


async def _review(request: Request, incident_id: int) -> tuple[dict, list, dict]:
    cmd = command(request)
    incident = await call(cmd.incidents.get, incident_id=incident_id)
    events = await call(cmd.incidents.timeline, incident_id=incident_id)
    kpis = await run_in_threadpool(_kpis, request, incident)
    return incident, events, kpis


@router.get(
    "/{incident_id}/review.md",
    summary="The post-incident review, Markdown",
    response_class=PlainTextResponse,
)
async def review_md(
    request: Request, incident_id: IncidentId, _who: Principal = Read
) -> PlainTextResponse:
    text = review_markdown(*await _review(request, incident_id))
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get(
    "/{incident_id}/review.html",
    summary="The post-incident review, one HTML file with inline SVG charts",
    response_class=HTMLResponse,
)
async def review_page(
    request: Request,
    incident_id: IncidentId,
    _who: Principal = Read,
    download: Annotated[bool, Query(description="as an attachment")] = False,
) -> HTMLResponse:
    headers = (
        {"Content-Disposition": f'attachment; filename="incident-{incident_id}.html"'}
        if download
        else None
    )
    return HTMLResponse(review_html(*await _review(request, incident_id)), headers=headers)
