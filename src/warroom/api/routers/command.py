"""The broadcast channel over HTTP: send to roles or everyone, acknowledge, roll-call,
the roster, and the per-person SSE feed (`Last-Event-ID` replay, no duplicates).

A message sent here also becomes the wall's broadcast banner (`frame()["broadcast"]`),
as the one-message stub did before.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from warroom.api.routers._cmd import call, command, person_of
from warroom.api.security import Principal, require
from warroom.audit import AuditEvent
from warroom.command.broadcast import EVERYONE
from warroom.command.clock import parse_duration
from warroom.command.tables import deliveries_t, messages_t, roster_t

router = APIRouter(prefix="/api/v1/broadcast", tags=["command"])
Read, Send = Depends(require("read")), Depends(require("broadcast"))
Admin = Depends(require("admin"))
MessageId = Annotated[int, Path(ge=1, le=2**62)]  # SQLite integers are 64-bit


class BroadcastSend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=280)
    roles: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=lambda: [EVERYONE], min_length=1, description='roles, or ["*"]'
    )
    ack_within: str = Field("5m", description="re-send and escalate after this: 90s, 5m, 1h")
    incident_id: int | None = Field(None, ge=1, le=2**62)

    @field_validator("ack_within")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)  # ValueError names what is wrong; pydantic makes it a 422
        return v


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=50)
    next: str | None = Field(None, max_length=100, description="who is escalated to")


class Roster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    people: list[Person] = Field(max_length=10_000)


@router.post("", summary="Send a message to roles or everyone; it is also the wall's banner")
async def broadcast(request: Request, body: BroadcastSend, who: Principal = Send) -> dict[str, Any]:
    ctx = request.app.state.ctx
    message_id = await call(
        command(request).broadcast.send,
        text=body.message,
        roles=body.roles,
        sender=person_of(request, who),
        ack_within_ms=parse_duration(body.ack_within),
        incident_id=body.incident_id,
    )
    ctx.feed.poke()
    ctx.broadcast = {
        "id": message_id,
        "message": body.message,
        "by": who.actor,
        "roles": body.roles,
        "utc_ms": int(time.time() * 1000),
    }
    return ctx.broadcast


@router.delete("", summary="Clear the wall's broadcast banner (messages stay)")
async def clear(request: Request, who: Principal = Send) -> dict[str, Any]:
    ctx = request.app.state.ctx
    ctx.broadcast = None
    await run_in_threadpool(
        ctx.audit.record, AuditEvent(who.actor, "broadcast.clear", "walls", "ok")
    )
    return {"cleared": True}


def _messages(engine: sa.Engine, limit: int, message_id: int | None = None) -> list[dict]:
    q = sa.select(messages_t).order_by(messages_t.c.id.desc()).limit(limit)
    if message_id is not None:
        q = q.where(messages_t.c.id == message_id)
    with engine.connect() as c:
        msgs = [dict(r._mapping) for r in c.execute(q)]
        ids = [m["id"] for m in msgs]
        rows = c.execute(
            sa.select(deliveries_t)
            .where(deliveries_t.c.message_id.in_(ids))
            .order_by(deliveries_t.c.person)
        ).all()
    by_msg: dict[int, list[dict[str, Any]]] = {}
    for d in rows:
        by_msg.setdefault(d.message_id, []).append(
            {k: v for k, v in d._mapping.items() if k != "message_id"}
        )
    for m in msgs:
        m["audience"] = json.loads(m["audience"])
        m["deliveries"] = by_msg.get(m["id"], [])
        m["acked"] = sorted(d["person"] for d in m["deliveries"] if d["acked_ms"] is not None)
        m["pending"] = sorted(d["person"] for d in m["deliveries"] if d["acked_ms"] is None)
    return msgs


@router.get("/messages", summary="Recent messages with their roll-call, newest first")
async def messages(
    request: Request,
    _who: Principal = Read,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    return await run_in_threadpool(_messages, command(request).engine, limit)


@router.get("/messages/{message_id}", summary="One message: who acknowledged, who has not")
async def message(
    request: Request, message_id: MessageId, _who: Principal = Read
) -> dict[str, Any]:
    await call(command(request).broadcast.message, message_id=message_id)  # 404 if none
    (out,) = await run_in_threadpool(_messages, command(request).engine, 1, message_id)
    return out


@router.post("/messages/{message_id}/ack", summary="Acknowledge a message sent to you")
async def ack(request: Request, message_id: MessageId, who: Principal = Read) -> dict[str, Any]:
    person = person_of(request, who)
    first = await call(command(request).broadcast.acknowledge, message_id=message_id, person=person)
    request.app.state.ctx.feed.poke()
    return {"message_id": message_id, "person": person, "first": first}


@router.get("/roster", summary="Who receives messages, by role, and who is escalated to")
async def roster(request: Request, _who: Principal = Read) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        with command(request).engine.connect() as c:
            rows = c.execute(sa.select(roster_t).order_by(roster_t.c.person))
            return [{"name": r.person, "role": r.role, "next": r.next_person} for r in rows]

    return await run_in_threadpool(read)


@router.put("/roster", summary="Replace the roster")
async def put_roster(request: Request, body: Roster, who: Principal = Admin) -> dict:
    ctx = request.app.state.ctx
    people = [p.model_dump() for p in body.people]
    await call(command(request).broadcast.load_roster, people=people)
    await run_in_threadpool(
        ctx.audit.record,
        AuditEvent(who.actor, "roster.load", "roster", "ok", f"{len(people)} people"),
    )
    return {"people": len(people)}


def _roles_of(request: Request, person: str, token_role: str) -> list[str]:
    """The token's role and the person's role on the roster: both address them."""
    with command(request).engine.connect() as c:
        on_roster = c.execute(
            sa.select(roster_t.c.role).where(roster_t.c.person == person)
        ).scalar()
    return sorted({token_role, *([on_roster] if on_roster else [])})


def _event_id(text: str | None) -> int:
    """Feed ids are integers; anything else (a wall frame id, garbage) starts from 0."""
    return int(text) if text and text.isdigit() else 0


@router.get(
    "/stream",
    summary="Server-Sent Events: the messages, re-sends, escalations and acks meant for you; "
    "Last-Event-ID (or ?last_event_id=) replays what was missed, each event once",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(
    request: Request,
    who: Principal = Read,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
    resume: Annotated[str | None, Query(alias="last_event_id", max_length=100)] = None,
) -> StreamingResponse:
    ctx = request.app.state.ctx
    person = person_of(request, who)
    roles = await run_in_threadpool(_roles_of, request, person, who.role)
    events = ctx.feed.stream(
        person=person,
        roles=roles,
        last_event_id=_event_id(last_event_id or resume),
        stop=lambda: ctx.stream.closing or ctx.stream.closed,  # shutdown ends every stream
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Person": person},
    )


@router.get("/me", summary="Who the API takes you for: person and roles")
async def me(request: Request, who: Principal = Read) -> dict[str, Any]:
    person = person_of(request, who)
    roles = await run_in_threadpool(_roles_of, request, person, who.role)
    return {"person": person, "role": who.role, "roles": roles}
