"""Campaigns with live progress against target and plan (read); defining or changing one
needs `approve` (commander and up); every change is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.errors import ApiError
from warroom.api.security import Principal, require
from warroom.audit import AuditEvent
from warroom.campaigns.model import CampaignError, parse_one
from warroom.campaigns.service import BehindPlanWatch, CampaignBook

router = APIRouter(prefix="/api/v1", tags=["campaigns"])
Reader = Depends(require("read"))
CampaignId = Annotated[str, Path(max_length=100, description="e.g. c-01")]
Definition = Annotated[
    dict[str, Any],
    Body(
        description="id, name, commander, window {start, end, timezone}, scope {campaign, "
        "categories, regions, merchants}, targets {gmv, orders, buyers, conversion, "
        "refund_rate}, plan [{at: HH:MM, share}], tolerance",
    ),
]


def book(request: Request) -> CampaignBook:
    """One book per server, kept on the context (loaded from the store's meta on first use)."""
    ctx = request.app.state.ctx
    found = getattr(ctx, "campaigns", None)
    if found is None:
        found = CampaignBook(ctx.store, ctx.wall.digits, ctx.wall.minor_digits)
        ctx.campaigns = found
    return found


def _now(request: Request) -> int | None:
    t = request.app.state.ctx.wall.event_time
    return int(t) + 1000 if t else None  # the end of the newest finalised second


@router.get("/campaigns", dependencies=[Reader], summary="Every campaign with live progress")
async def list_campaigns(request: Request) -> dict[str, Any]:
    b, now = book(request), _now(request)
    got = await run_in_threadpool(b.progress, now)
    return {"campaigns": [p.to_json() for p in got]}


@router.get(
    "/campaigns/alerts", dependencies=[Reader], summary="Campaigns behind plan (alert records)"
)
async def behind_plan(request: Request) -> list[dict[str, Any]]:
    b, now = book(request), _now(request)
    got = await run_in_threadpool(b.progress, now)
    return BehindPlanWatch().step(got)


@router.get(
    "/campaigns/{campaign_id}",
    dependencies=[Reader],
    summary="One campaign: progress, its cumulative series against plan, hours won and lost",
)
async def one_campaign(request: Request, campaign_id: CampaignId) -> dict[str, Any]:
    b, now = book(request), _now(request)
    if b.get(campaign_id) is None:
        raise ApiError(404, f"no campaign {campaign_id!r}", field="campaign_id")
    got = await run_in_threadpool(b.progress, now)
    (p,) = [x for x in got if x.campaign.id == campaign_id]
    return p.to_json(with_series=True)


async def _save(
    request: Request, who: Principal, doc: dict[str, Any], action: str
) -> dict[str, Any]:
    try:
        c = parse_one(doc)
    except CampaignError as exc:
        raise ApiError(422, str(exc), field="body") from None
    b = book(request)
    new = await run_in_threadpool(b.upsert, c)
    event = AuditEvent(who.actor, action, f"campaign:{c.id}", "ok", "created" if new else "updated")
    await run_in_threadpool(request.app.state.ctx.audit.record, event)
    return {"id": c.id, "created": new}


@router.post("/campaigns", summary="Define a campaign (or replace the one with its id)")
async def create_campaign(
    request: Request,
    definition: Definition,
    who: Annotated[Principal, Depends(require("approve"))],
) -> dict[str, Any]:
    return await _save(request, who, definition, "campaign.create")


@router.put("/campaigns/{campaign_id}", summary="Change a campaign's definition")
async def update_campaign(
    request: Request,
    campaign_id: CampaignId,
    definition: Definition,
    who: Annotated[Principal, Depends(require("approve"))],
) -> dict[str, Any]:
    if definition.get("id", campaign_id) != campaign_id:
        raise ApiError(422, "id in the body differs from the path", field="id")
    if book(request).get(campaign_id) is None:
        raise ApiError(404, f"no campaign {campaign_id!r}", field="campaign_id")
    return await _save(request, who, {**definition, "id": campaign_id}, "campaign.update")
