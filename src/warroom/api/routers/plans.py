"""Plans and their runs over HTTP: list, dry run, start, approve / reject, undo; the
switches other systems read; merchant notices: staff read them all and may acknowledge
on a merchant's behalf, a merchant's operator (a `merchant` token, scoped to one
merchant id) reads and acknowledges its own only, under `/merchant/`.

Starting a run and deciding a step need `approve` (commander); the two-person rule and
the step's approve role are the command core's (`command/runs.py`), so a requester's
own approve is refused there with 403 and written to the audit chain.
"""

from __future__ import annotations

import json
import os
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from warroom.api.errors import ApiError
from warroom.api.routers._cmd import call, command, person_of
from warroom.api.security import Principal, require
from warroom.command.actions import merchants
from warroom.command.actions.shipping import held_orders, violations
from warroom.command.actions.switches import get_switch, list_switches
from warroom.command.plancheck import check_dir
from warroom.command.plans import Plan

router = APIRouter(prefix="/api/v1", tags=["plans"])
Read, Approve = Depends(require("read")), Depends(require("approve"))
Ack, Merchant = Depends(require("acknowledge")), Depends(require("merchant"))
NoticeState = Literal["pending", "sent", "failed", "acked", "cancelled"]
RunId = Annotated[int, Path(ge=1, le=2**62)]  # SQLite integers are 64-bit
Idx = Annotated[int, Path(ge=0, le=1000)]


def plans_dir(request: Request) -> FsPath:
    """WARROOM_PLANS, else `plans/` in the state directory, else the repository's `plans/`."""
    env = os.environ.get("WARROOM_PLANS")
    if env:
        return FsPath(env)
    local = FsPath(request.app.state.ctx.settings.data_dir) / "plans"
    return local if local.is_dir() else FsPath(__file__).resolve().parents[4] / "plans"


def load_plans(request: Request) -> dict[str, Plan]:
    """Read on each request: an edited file counts for the next run, not one in flight."""
    directory = plans_dir(request)
    if not directory.is_dir():
        return {}
    plans, _issues = check_dir(directory)  # invalid files are `warroom plans check`'s job
    return {p.name: p for p in plans}


async def the_plan(request: Request, name: str) -> Plan:
    plans = await run_in_threadpool(load_plans, request)
    if name not in plans:
        raise ApiError(404, f"no plan {name!r}", field="name")
    return plans[name]


def run_out(run: dict[str, Any]) -> dict[str, Any]:
    """A run as the API shows it: its plan's step titles and approve roles, no plan_doc."""
    out = {k: v for k, v in run.items() if k != "plan_doc"}
    out["params"] = json.loads(run["params"]) if isinstance(run["params"], str) else run["params"]
    if "plan_doc" in run and "steps" in run:
        plan = msgspec.json.decode(run["plan_doc"], type=Plan)
        out["title"] = plan.title
        out["steps"] = [
            {
                **s,
                "title": plan.steps[s["idx"]].title or plan.steps[s["idx"]].id,
                "approve": plan.steps[s["idx"]].approve,
                "undo": plan.steps[s["idx"]].undo,
            }
            for s in run["steps"]
        ]
    return out


class DryRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(default_factory=dict, description="the plan's parameters")


class StartRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    incident_id: int | None = Field(None, ge=1, le=2**62, description="run inside this incident")


class Reject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=1000)


# -- plans ----------------------------------------------------------------------------
@router.get("/plans", summary="The emergency plans (valid files of the plans directory)")
async def plans(request: Request, _who: Principal = Read) -> list[dict[str, Any]]:
    found = await run_in_threadpool(load_plans, request)
    return [msgspec.to_builtins(p) for p in found.values()]


@router.get("/plans/{name}", summary="One plan")
async def plan(
    request: Request, name: Annotated[str, Path(max_length=200)], _who: Principal = Read
) -> dict[str, Any]:
    return msgspec.to_builtins(await the_plan(request, name))


@router.post("/plans/{name}/dry-run", summary="What each step would touch now: counts and ids")
async def dry_run(
    request: Request,
    name: Annotated[str, Path(max_length=200)],
    body: DryRunRequest,
    _who: Principal = Read,
) -> list[dict[str, Any]]:
    p = await the_plan(request, name)
    return await call(command(request).runs.dry_run, plan=p, params=body.params)


# -- runs -----------------------------------------------------------------------------
@router.get("/runs", summary="Plan runs, newest first")
async def runs(
    request: Request,
    _who: Principal = Read,
    incident_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[dict[str, Any]]:
    rows = await call(command(request).runs.list, incident_id=incident_id)
    return [run_out(r) for r in rows]


@router.post("/runs", status_code=201, summary="Start a plan run (you are its requester)")
async def start(request: Request, body: StartRun, who: Principal = Approve) -> dict[str, Any]:
    p = await the_plan(request, body.plan)
    cmd = command(request)
    run_id = await call(
        cmd.runs.start,
        plan=p,
        params=body.params,
        by=person_of(request, who),
        incident_id=body.incident_id,
    )
    return run_out(await call(cmd.runs.get, run_id=run_id))


@router.get(
    "/runs/{run_id}",
    summary="One run with its steps, previews and results; `now_ms` is the command "
    "clock's now, against which the steps' `deadline_ms` run out",
)
async def run(request: Request, run_id: RunId, _who: Principal = Read) -> dict[str, Any]:
    cmd = command(request)
    out = run_out(await call(cmd.runs.get, run_id=run_id))
    # deadlines are on the stream's clock, not the browser's: the page counts from this
    out["now_ms"] = cmd.clock.now_ms()
    return out


@router.post(
    "/runs/{run_id}/steps/{idx}/approve",
    summary="Approve the waiting step (not the requester; needs the step's role)",
)
async def approve(
    request: Request, run_id: RunId, idx: Idx, who: Principal = Approve
) -> dict[str, Any]:
    out = await call(
        command(request).runs.approve,
        run_id=run_id,
        idx=idx,
        by=person_of(request, who),
        role=who.role,
    )
    request.app.state.ctx.feed.poke()  # a broadcast step writes to the feed
    return run_out(out)


@router.post("/runs/{run_id}/steps/{idx}/reject", summary="Reject the waiting step")
async def reject(
    request: Request,
    run_id: RunId,
    idx: Idx,
    who: Principal = Approve,
    body: Reject | None = None,
) -> dict[str, Any]:
    out = await call(
        command(request).runs.reject,
        run_id=run_id,
        idx=idx,
        by=person_of(request, who),
        role=who.role,
        reason=body.reason if body else "",
    )
    return run_out(out)


@router.post("/runs/{run_id}/undo", summary="Undo the run's done steps, newest first")
async def undo(request: Request, run_id: RunId, who: Principal = Approve) -> dict:
    out = await call(
        command(request).runs.undo, run_id=run_id, by=person_of(request, who), role=who.role
    )
    return run_out(out)


# -- what other systems read ------------------------------------------------------------
@router.get("/switches", summary="Every switch that is set")
async def switches(request: Request, _who: Principal = Read) -> list[dict[str, Any]]:
    return await run_in_threadpool(list_switches, command(request).engine)


@router.get("/switches/{name}", summary="One switch; value null if it was never set")
async def switch(
    request: Request, name: Annotated[str, Path(max_length=200)], _who: Principal = Read
) -> dict[str, Any]:
    value = await run_in_threadpool(get_switch, command(request).engine, name)
    return {"name": name, "value": value, "set": value is not None}


@router.get(
    "/holds",
    summary="Orders held from shipping (by the step that placed the hold) and the "
    "shipments of held orders counted as violations",
)
async def holds(
    request: Request,
    _who: Principal = Read,
    ref: Annotated[str | None, Query(max_length=200, description="run:<id>/step:<n>")] = None,
) -> dict[str, Any]:
    engine = command(request).engine

    def read() -> dict[str, Any]:
        found = [v for v in violations(engine) if ref is None or v["ref"] == ref]
        return {"held": held_orders(engine, ref=ref), "violations": len(found), "shipments": found}

    return await run_in_threadpool(read)


@router.get(
    "/notices",
    summary="Merchant notices (the outbox) with their delivery state: pending, sent, "
    "failed (last_error says why), acked, cancelled",
)
async def notices(
    request: Request,
    _who: Principal = Read,
    ref: Annotated[str | None, Query(max_length=200, description="run:<id>/step:<n>")] = None,
    merchant: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[NoticeState | None, Query()] = None,
) -> list[dict[str, Any]]:
    engine = command(request).engine
    return await run_in_threadpool(
        lambda: merchants.outbox(engine, ref=ref, merchant_id=merchant, state=state)
    )


@router.get(
    "/notices/merchants",
    summary="Delivery state per merchant: notices in each state, the newest one, and "
    "whether an endpoint is configured",
)
async def notice_merchants(request: Request, _who: Principal = Read) -> dict[str, Any]:
    ctx = request.app.state.ctx
    rows = await run_in_threadpool(merchants.by_merchant, command(request).engine)
    book = ctx.live_command.endpoints
    endpoints = await run_in_threadpool(book.current)
    for r in rows:
        r["endpoint"] = endpoints.url_for(r["merchant_id"]) is not None
    return {"merchants": rows, "endpoints_file": str(book.path), "endpoints_error": book.error}


@router.post(
    "/notices/{outbox_id}/ack",
    summary="Staff acknowledge a notice on the merchant's behalf (e.g. after a phone "
    "call); the merchant's own operator uses /merchant/notices/{id}/ack",
)
async def ack_notice(
    request: Request,
    outbox_id: Annotated[int, Path(ge=1, le=2**62)],
    who: Principal = Ack,
) -> dict[str, Any]:
    return await call(
        command(request).acknowledge_notice, outbox_id=outbox_id, by=person_of(request, who)
    )


# -- a merchant's operator ---------------------------------------------------------------
@router.get(
    "/merchant/notices",
    summary="The notices addressed to the caller's merchant (a merchant token), oldest first",
)
async def my_notices(
    request: Request,
    who: Principal = Merchant,
    ref: Annotated[str | None, Query(max_length=200, description="run:<id>/step:<n>")] = None,
    state: Annotated[NoticeState | None, Query()] = None,
) -> list[dict[str, Any]]:
    engine = command(request).engine
    return await run_in_threadpool(
        lambda: merchants.outbox(engine, ref=ref, merchant_id=who.merchant, state=state)
    )


@router.post(
    "/merchant/notices/{outbox_id}/ack",
    summary="The merchant's operator acknowledges one of its own notices; another "
    "merchant's is 403 (and audited as denied)",
)
async def my_ack(
    request: Request,
    outbox_id: Annotated[int, Path(ge=1, le=2**62)],
    who: Principal = Merchant,
) -> dict[str, Any]:
    return await call(
        command(request).acknowledge_notice,
        outbox_id=outbox_id,
        by=person_of(request, who),
        merchant=who.merchant,
    )
