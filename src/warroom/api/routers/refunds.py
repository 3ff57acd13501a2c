"""Worry-free refunds: the review queue (read), reviewers' verdicts (approve), figures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from warroom.api.errors import ApiError
from warroom.api.security import Principal, require
from warroom.guards.refunds.errors import ReviewError
from warroom.guards.refunds.queue import ReviewQueue

router = APIRouter(prefix="/api/v1/refunds", tags=["refunds"])
RefundId = Annotated[str, Path(max_length=200)]
Status = Literal["pending", "approved", "approved_by_reviewer", "rejected"]


class VerdictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["approve", "reject"] = Field(description="pay the refund, or refuse it")
    note: str = Field("", max_length=1000, description="why, for the audit trail")


def _queue(request: Request) -> ReviewQueue:
    state = request.app.state
    queue = getattr(state, "refund_queue", None)
    if queue is None:
        queue = state.refund_queue = ReviewQueue(state.ctx.store.engine)
    return queue


@router.get("/summary", dependencies=[Depends(require("read"))], summary="Refund figures")
async def summary(request: Request) -> dict[str, Any]:
    """Refund rate, auto-approved share, held amount (base currency minor units)."""
    queue = _queue(request)
    out = await run_in_threadpool(queue.summary)
    ctx = request.app.state.ctx
    out["base"], out["digits"] = ctx.base, ctx.runner.rates.base_digits
    return out


@router.get("/queue", dependencies=[Depends(require("read"))], summary="Refunds by status")
async def queue_list(
    request: Request,
    status: Status | None = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """Held refunds (riskiest first) with their reasons and signals."""
    queue = _queue(request)
    rows = await run_in_threadpool(lambda: queue.list(status=status, limit=limit, offset=offset))
    return {"refunds": rows}


@router.get("/{refund_id}", dependencies=[Depends(require("read"))], summary="One refund")
async def one(request: Request, refund_id: RefundId) -> dict[str, Any]:
    queue = _queue(request)
    try:
        return await run_in_threadpool(lambda: queue.get(refund_id=refund_id))
    except ReviewError as exc:
        raise ApiError(404, str(exc), field="refund_id") from exc


@router.post("/{refund_id}/verdict", summary="Approve or reject a held refund (audited)")
async def verdict(
    request: Request,
    refund_id: RefundId,
    body: VerdictRequest,
    who: Annotated[Principal, Depends(require("approve"))],
) -> dict[str, Any]:
    queue = _queue(request)
    try:
        return await run_in_threadpool(
            lambda: queue.resolve(
                refund_id=refund_id, verdict=body.verdict, actor=who.actor, note=body.note
            )
        )
    except ReviewError as exc:
        known = "not waiting" in str(exc)
        raise ApiError(409 if known else 404, str(exc), field="refund_id") from exc
