"""Tokens, settings and the audit trail (permission: admin)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.errors import ApiError
from warroom.api.models import SettingsPatch, TokenCreated, TokenInfoOut, TokenRequest
from warroom.api.security import Principal, require
from warroom.audit import AuditEvent
from warroom.auth.tokens import TokenError, check_scope

router = APIRouter(prefix="/api/v1", tags=["admin"])
Admin = Depends(require("admin"))


@router.get("/tokens", summary="Tokens (never their text)")
async def tokens(request: Request, _who: Principal = Admin) -> list[TokenInfoOut]:
    infos = await run_in_threadpool(request.app.state.ctx.tokens.list)
    return [TokenInfoOut(**asdict(i)) for i in infos]


@router.post("/tokens", status_code=201, summary="Create a token; its text is shown once")
async def create_token(
    request: Request, body: TokenRequest, who: Principal = Admin
) -> TokenCreated:
    ctx = request.app.state.ctx
    try:
        check_scope(body.role, body.merchant)
    except TokenError as exc:
        raise ApiError(422, str(exc), field=exc.field) from exc
    token, info = await run_in_threadpool(
        lambda: ctx.tokens.create(role=body.role, name=body.name, merchant=body.merchant)
    )
    scope = f" merchant {info.merchant_id}" if info.merchant_id else ""
    await run_in_threadpool(
        ctx.audit.record,
        AuditEvent(who.actor, "token.create", f"token:{info.id}", "ok", info.role + scope),
    )
    return TokenCreated(token=token, **asdict(info))


@router.delete("/tokens/{token_id}", summary="Revoke a token")
async def revoke_token(
    request: Request, token_id: Annotated[str, Path(max_length=64)], who: Principal = Admin
) -> dict[str, Any]:
    ctx = request.app.state.ctx
    done = await run_in_threadpool(ctx.tokens.revoke, token_id)
    await run_in_threadpool(
        ctx.audit.record,
        AuditEvent(who.actor, "token.revoke", f"token:{token_id}", "ok" if done else "failed"),
    )
    if not done:
        raise ApiError(404, f"no token {token_id!r}", field="token_id")
    return {"revoked": token_id}


@router.get("/settings", summary="Settings an admin may change while running")
async def get_settings(request: Request, _who: Principal = Admin) -> dict[str, float]:
    return request.app.state.ctx.tunables()


@router.patch("/settings", summary="Change settings (kept in the state directory)")
async def patch_settings(
    request: Request, body: SettingsPatch, who: Principal = Admin
) -> dict[str, float]:
    ctx = request.app.state.ctx
    values = body.model_dump(exclude_none=True)
    out = await run_in_threadpool(ctx.update_settings, values)
    await run_in_threadpool(
        ctx.audit.record, AuditEvent(who.actor, "settings.update", "settings", "ok", str(values))
    )
    return out


@router.get("/audit", summary="The audit trail, newest first")
async def audit(
    request: Request,
    _who: Principal = Admin,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    result: Literal["ok", "denied", "failed"] | None = None,
) -> list[dict[str, Any]]:
    log = request.app.state.ctx.audit
    return await run_in_threadpool(lambda: log.recent(limit, result))
