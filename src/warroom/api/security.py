"""Bearer-token authentication; each route declares the permission it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from warroom.api.errors import ApiError
from warroom.audit import AuditEvent
from warroom.auth.roles import SCOPED_ROLES, allows

bearer = HTTPBearer(auto_error=False, description="A token from `warroom token create`.")


@dataclass(frozen=True)
class Principal:
    actor: str  # for the audit trail
    role: str
    token_id: str | None = None
    merchant: str | None = None  # the merchant a `merchant` token acts for


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal, if its role grants `permission`."""

    async def check(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        ctx = request.app.state.ctx
        token = creds.credentials if creds is not None else None
        if token is None and request.url.path.endswith("/stream"):
            token = request.query_params.get("access_token")  # EventSource sets no headers
        principal: Principal | None = None
        if token:
            info = await run_in_threadpool(ctx.tokens.verify, token)
            if info is not None:
                principal = Principal(
                    f"token:{info.id}({info.role})", info.role, info.id, info.merchant_id
                )
        elif ctx.settings.open_role:
            principal = Principal("anonymous", ctx.settings.open_role)
        if principal is None:
            await _deny(request, "anonymous", permission, "no valid bearer token")
            raise ApiError(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if not allows(principal.role, permission):
            await _deny(request, principal.actor, permission, f"role {principal.role}")
            raise ApiError(403, f"role {principal.role} may not {permission}")
        if principal.role in SCOPED_ROLES and not principal.merchant:
            # a scoped role without its scope (an edited row, an open role) acts for no one
            await _deny(request, principal.actor, permission, "no merchant scope")
            raise ApiError(403, f"role {principal.role} needs a token scoped to a merchant")
        return principal

    check.permission = permission  # type: ignore[attr-defined]  # read by the route-matrix test
    return check


async def _deny(request: Request, actor: str, permission: str, why: str) -> None:
    event = AuditEvent(
        actor=actor,
        action=permission,
        target=f"{request.method} {request.url.path}",
        result="denied",
        detail=why,
    )
    await run_in_threadpool(request.app.state.ctx.audit.record, event)
