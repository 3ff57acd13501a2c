"""Catalog guard (read): findings, their blast radius, restore values, the plan, CSVs."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from warroom.api.errors import ApiError
from warroom.api.security import require
from warroom.command.service import Command
from warroom.guards.catalog import execute, respond
from warroom.guards.catalog.store import CatalogStore

router = APIRouter(
    prefix="/api/v1/catalog", tags=["catalog"], dependencies=[Depends(require("read"))]
)
FindingId = Annotated[str, Path(max_length=200)]


@lru_cache(maxsize=8)
def _store(engine: sa.Engine) -> CatalogStore:
    return CatalogStore(engine)  # creates the tables once per database


@lru_cache(maxsize=8)
def _command(store: CatalogStore) -> Command:
    return execute.open_command(store)  # a dry run only reads: its clock does not matter


def _ctx_store(request: Request) -> CatalogStore:
    return _store(request.app.state.ctx.store.engine)


def _digits(request: Request) -> int:
    return int(request.app.state.ctx.runner.rates.base_digits)


@router.get("/findings", summary="Catalog findings (SKU scrambles, price errors), oldest first")
async def findings(
    request: Request, state: Literal["firing", "resolved"] | None = None
) -> dict[str, Any]:
    store = _ctx_store(request)
    rows = await run_in_threadpool(store.findings, state)
    return {"findings": [_summary(r) for r in rows]}


@router.get("/findings/{finding_id}", summary="One finding with its complete blast radius")
async def finding(request: Request, finding_id: FindingId) -> dict[str, Any]:
    store = _ctx_store(request)

    def read() -> dict[str, Any] | None:
        row = store.finding(finding_id)
        if row is None:
            return None
        orders = store.orders(finding_id)
        shipped = sorted({o["order_id"] for o in orders if o["shipped"]})
        waiting = sorted({o["order_id"] for o in orders if not o["shipped"]})
        return {
            **_summary(row),
            "skus": store.skus(finding_id),
            "orders_shipped": shipped,
            "orders_not_shipped": waiting,
            "order_lines": orders,
        }

    doc = await run_in_threadpool(read)
    if doc is None:
        raise ApiError(404, f"no catalog finding {finding_id!r}", field="finding_id")
    return doc


@router.get("/findings/{finding_id}/restore", summary="Snapshot values of the finding's SKUs")
async def restore(request: Request, finding_id: FindingId) -> dict[str, Any]:
    store = _ctx_store(request)
    lines = await run_in_threadpool(respond.restore_lines, store, finding_id)
    if not lines:
        raise ApiError(404, f"no catalog finding {finding_id!r}", field="finding_id")
    return {"skus": lines}


@router.get(
    "/findings/{finding_id}/blast.csv",
    summary="One finding's blast radius (order lines) as CSV",
    response_class=PlainTextResponse,
)
async def finding_csv(request: Request, finding_id: FindingId) -> PlainTextResponse:
    store = _ctx_store(request)
    if await run_in_threadpool(store.finding, finding_id) is None:
        raise ApiError(404, f"no catalog finding {finding_id!r}", field="finding_id")
    text = await run_in_threadpool(
        respond.blast_csv, store, _digits(request), finding_id=finding_id
    )
    return PlainTextResponse(text, media_type="text/csv")


@router.get("/plan", summary="What `warroom catalog respond` would do now (dry run)")
async def plan(request: Request, finding: str | None = None) -> dict[str, Any]:
    store = _ctx_store(request)
    command = _command(store)

    def dry_run() -> dict[str, Any]:
        return execute.respond(
            store, command, apply=False, by="api", finding_id=finding, base_digits=_digits(request)
        )

    return await run_in_threadpool(dry_run)


@router.get(
    "/merchants/{merchant_id}/blast.csv",
    summary="One merchant's blast radius as CSV",
    response_class=PlainTextResponse,
)
async def merchant_csv(request: Request, merchant_id: FindingId) -> PlainTextResponse:
    store = _ctx_store(request)
    text = await run_in_threadpool(respond.merchant_csv, store, merchant_id, _digits(request))
    return PlainTextResponse(text, media_type="text/csv")


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert": row["alert"],
        "kind": row["kind"],
        "actor": row["actor"],
        "first_change": row["first_change"],
        "mass": row["mass"],
        "gmv_at_risk": row["gmv_at_risk"],
        "gmv_unshipped": row["gmv_unshipped"],
        "corroboration": row["corroboration"],
    }
