"""POST a batch of NDJSON records (permission: ingest)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from warroom.api.errors import ERROR_SCHEMA, ApiError
from warroom.api.models import IngestReply
from warroom.api.security import Principal, require
from warroom.api.services.ingest import ingest as ingest_batch

router = APIRouter(prefix="/api/v1", tags=["ingest"])
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/ingest",
    summary="Ingest NDJSON records (the event contract)",
    openapi_extra=_BODY,
    responses={413: ERROR_SCHEMA, 429: ERROR_SCHEMA},
)
async def ingest(
    request: Request, who: Annotated[Principal, Depends(require("ingest"))]
) -> IngestReply:
    ctx = request.app.state.ctx
    limit = ctx.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body over {limit:,} bytes; send smaller batches")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body over {limit:,} bytes; send smaller batches")
        chunks.append(chunk)
    body = b"".join(chunks)
    return IngestReply(**await ingest_batch(ctx=ctx, body=body, caller=who.actor))
