"""KPI series, slices and top-N (permission: read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.security import require
from warroom.api.services import kpi

router = APIRouter(prefix="/api/v1", tags=["kpi"])
Reader = Depends(require("read"))
Metric = Annotated[str, Query(description="e.g. gmv, orders, payment_success_rate")]
By = Annotated[str, Query(description="up to two dimensions, comma-separated")]
Filter = Annotated[
    list[str], Query(description="drill-down: dimension:value (repeat or comma-separate)")
]
_MS = 1 << 53  # epoch ms fit in int64 and in a JSON number
From = Annotated[
    int | None, Query(alias="from", ge=-_MS, le=_MS, description="window start ≥, epoch ms")
]
To = Annotated[
    int | None, Query(alias="to", ge=-_MS, le=_MS, description="window start ≤, epoch ms")
]
Every = Annotated[str, Query(description="1s, 1m or 1h")]


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


@router.get("/catalog", dependencies=[Reader], summary="Metrics and dimensions")
async def catalog() -> dict[str, Any]:
    return kpi.catalog()


@router.get(
    "/rates",
    dependencies=[Reader],
    summary="The rates table recorded with the run (exact), to re-derive any base figure",
)
async def rates(request: Request) -> dict[str, Any]:
    return kpi.rates(_ctx(request).runner.rates)


@router.get("/series", dependencies=[Reader], summary="A metric's series, sliced and filtered")
async def series(
    request: Request,
    metric: Metric = "gmv",
    by: By = "",
    filter: Filter = [],  # noqa: B006  # FastAPI reads the default, never mutates it
    start: From = None,
    end: To = None,
    every: Every = "1s",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    ctx = _ctx(request)
    return await run_in_threadpool(
        lambda: kpi.series(
            store=ctx.store,
            digits=ctx.wall.digits,
            minor_digits=ctx.runner.rates.minor_digits,
            metric=metric,
            by=kpi.parse_by(by),
            where=kpi.parse_filters(filter),
            start=start,
            end=end,
            every=every,
            limit=limit,
        )
    )


@router.get("/slice", dependencies=[Reader], summary="One value per dimension key over a range")
async def slice_(
    request: Request,
    metric: Metric = "gmv",
    by: By = "region",
    filter: Filter = [],  # noqa: B006
    start: From = None,
    end: To = None,
    every: Every = "1s",
) -> dict[str, Any]:
    ctx = _ctx(request)
    return await run_in_threadpool(
        lambda: kpi.slice_(
            store=ctx.store,
            digits=ctx.wall.digits,
            minor_digits=ctx.runner.rates.minor_digits,
            metric=metric,
            by=kpi.parse_by(by),
            where=kpi.parse_filters(filter),
            start=start,
            end=end,
            every=every,
        )
    )


@router.get("/top", dependencies=[Reader], summary="Top N keys of any dimension by a metric")
async def top(
    request: Request,
    by: Annotated[str, Query(description="one dimension")],
    metric: Metric = "gmv",
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
    filter: Filter = [],  # noqa: B006
    start: From = None,
    end: To = None,
    every: Every = "1s",
) -> dict[str, Any]:
    ctx = _ctx(request)
    return await run_in_threadpool(
        lambda: kpi.slice_(
            store=ctx.store,
            digits=ctx.wall.digits,
            minor_digits=ctx.runner.rates.minor_digits,
            metric=metric,
            by=kpi.parse_by(by),
            where=kpi.parse_filters(filter),
            start=start,
            end=end,
            every=every,
            top=n,
        )
    )
