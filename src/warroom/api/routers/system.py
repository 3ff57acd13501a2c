"""/metrics (Prometheus, permission: read) and /healthz (public, for probes)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from warroom.api.security import require

router = APIRouter(tags=["system"])


@router.get(
    "/metrics",
    dependencies=[Depends(require("read"))],
    response_class=PlainTextResponse,
    summary="The process in Prometheus text format",
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.ctx.telemetry.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", summary="Liveness (no token needed)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
