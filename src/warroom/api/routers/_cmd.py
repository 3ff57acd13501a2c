"""What the command routers share: who the caller is, and command errors as API errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from warroom.api.errors import ApiError
from warroom.api.security import Principal
from warroom.command.errors import (
    CommandError,
    Forbidden,
    InvalidTransition,
    NotFound,
    PlanInvalid,
)
from warroom.command.service import Command

T = TypeVar("T")


def command(request: Request) -> Command:
    return request.app.state.ctx.command


def person_of(request: Request, who: Principal) -> str:
    """The person behind a token: its name (`warroom token create --name alice`), or its
    id when the name is just the role's default (two commander tokens are two people).
    A merchant's operator is `<person>@<merchant id>`, so a trail names the merchant."""
    if who.token_id is None:
        return who.actor
    seen = getattr(request.app.state.ctx.tokens, "seen", {})
    info = seen.get(who.token_id)
    if info is not None and info.name and info.name != info.role:
        person = info.name
    else:
        person = f"token:{who.token_id}"
    return f"{person}@{who.merchant}" if who.merchant else person


def api_error(exc: CommandError) -> ApiError:
    if isinstance(exc, NotFound):
        return ApiError(404, str(exc))
    if isinstance(exc, Forbidden):
        return ApiError(403, str(exc))
    if isinstance(exc, InvalidTransition):
        return ApiError(409, str(exc))
    if isinstance(exc, PlanInvalid):
        return ApiError(422, str(exc))
    return ApiError(422, str(exc))


async def call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a (blocking) command service call off the event loop; its errors in API shape."""
    try:
        return await run_in_threadpool(lambda: fn(**kwargs))
    except CommandError as exc:
        raise api_error(exc) from exc
