"""Quarantined and late records (read)."""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.security import require

router = APIRouter(prefix="/api/v1", tags=["quarantine"], dependencies=[Depends(require("read"))])
Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=1 << 31)]


@router.get("/quarantine", summary="Quarantined records: source, line, reason, raw")
async def quarantine(request: Request, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    store = request.app.state.ctx.store

    def read() -> list[dict[str, Any]]:
        rows = islice(store.quarantined(), offset, offset + limit)
        return [{**r, "raw": r["raw"].decode("utf-8", "replace")} for r in rows]

    return {"records": await run_in_threadpool(read)}


@router.get("/late", summary="Records past the allowed lateness (counted, not aggregated)")
async def late(request: Request, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    store = request.app.state.ctx.store
    rows = await run_in_threadpool(
        lambda: list(islice(store.late_records(), offset, offset + limit))
    )
    return {"records": rows}
