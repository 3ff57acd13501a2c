"""The walkie-talkie channel: messages to roles or everyone, acknowledgements, roll-call,
re-send and escalation to the next person on the roster.

Every message, re-send, escalation and acknowledgement is an event in `cmd_feed` with
an id that only grows, so an SSE layer replays after `Last-Event-ID` with one range
query (`pending_for`). A client keys what it shows by `message_id`: a re-send
re-alerts the message already on screen instead of adding a second copy.

Ids must also become visible in order, or a reader that saw id 7 steps over a 6
committed after it. SQLite has one writer at a time; on PostgreSQL ids come from a
sequence that does not commit in order, so every transaction that writes the feed first
takes one transaction-scoped advisory lock (`lock_feed`), before any row lock (no
deadlock with a writer holding a delivery row) and before an id is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from warroom.command.clock import Clock
from warroom.command.errors import CommandError, NotFound
from warroom.command.incidents import IncidentService
from warroom.command.tables import create, deliveries_t, feed_t, messages_t, roster_t

EVERYONE = "*"
FEED_LOCK = 0x636D645F66656564  # "cmd_feed": the advisory lock key of feed writers


def feed_lock_statements(dialect: str) -> list[sa.Executable]:
    """What `lock_feed` runs on a dialect (the PostgreSQL test runs these through psql)."""
    if dialect == "postgresql":
        return [sa.select(sa.func.pg_advisory_xact_lock(FEED_LOCK))]
    return []  # SQLite: the database lock already serializes writers


def lock_feed(c: sa.Connection) -> None:
    """Serialize feed writers until this transaction ends (re-entrant within it)."""
    for stmt in feed_lock_statements(c.dialect.name):
        c.execute(stmt)


@dataclass(frozen=True)
class FeedEvent:
    event_id: int
    message_id: int
    target: str  # "*", "role:a role:b" or "person:p"
    kind: str  # message | resend | escalation | ack
    person: str | None = None


@dataclass(frozen=True)
class RollCall:
    message_id: int
    acked: list[str]
    pending: list[str]


def addressed(event: FeedEvent, *, person: str | None, roles: Iterable[str]) -> bool:
    mine = {EVERYONE, *(f"role:{r}" for r in roles)} | ({f"person:{person}"} if person else set())
    return bool(mine & set(event.target.split()))


def select_pending(
    events: Iterable[FeedEvent], *, person: str | None, roles: Iterable[str], last_event_id: int
) -> list[FeedEvent]:
    """Pure: the events after `last_event_id` meant for this client, in id order."""
    roles = list(roles)
    return sorted(
        (
            e
            for e in events
            if e.event_id > last_event_id and addressed(e, person=person, roles=roles)
        ),
        key=lambda e: e.event_id,
    )


class BroadcastService:
    def __init__(self, *, engine: sa.Engine, clock: Clock, incidents: IncidentService) -> None:
        self.engine, self.clock, self.incidents = engine, clock, incidents
        create(engine)

    # -- the roster -----------------------------------------------------------------
    def load_roster(self, people: Sequence[dict[str, Any]]) -> None:
        """people: [{name, role, next}]; replaces the roster."""
        rows = [
            {"person": p["name"], "role": p["role"], "next_person": p.get("next")} for p in people
        ]
        names = {r["person"] for r in rows}
        if len(names) < len(rows):
            twice = sorted(
                {r["person"] for r in rows if [x["person"] for x in rows].count(r["person"]) > 1}
            )
            raise CommandError(f"roster: each person once; listed twice: {', '.join(twice)}")
        for r in rows:
            if r["next_person"] is not None and r["next_person"] not in names:
                raise CommandError(f"roster: {r['person']}.next {r['next_person']!r} is not on it")
        with self.engine.begin() as c:
            c.execute(sa.delete(roster_t))
            if rows:
                c.execute(sa.insert(roster_t), rows)

    def load_roster_file(self, path: Path) -> None:
        self.load_roster(yaml.safe_load(path.read_text("utf-8"))["people"])

    def recipients(self, roles: Sequence[str]) -> list[str]:
        q = sa.select(roster_t.c.person)
        if EVERYONE not in roles:
            q = q.where(roster_t.c.role.in_(roles))
        with self.engine.connect() as c:
            return sorted(c.execute(q).scalars())

    # -- sending and acknowledging --------------------------------------------------
    def send(
        self,
        *,
        text: str,
        roles: Sequence[str],
        sender: str,
        ack_within_ms: int,
        incident_id: int | None = None,
    ) -> int:
        now, people = self.clock.now_ms(), self.recipients(roles)
        audience = [EVERYONE] if EVERYONE in roles else sorted(set(roles))
        target = EVERYONE if audience == [EVERYONE] else " ".join(f"role:{r}" for r in audience)
        with self.engine.begin() as c:
            lock_feed(c)
            message_id = int(
                c.execute(
                    sa.insert(messages_t).values(
                        text=text,
                        audience=json.dumps(audience),
                        sender=sender,
                        incident_id=incident_id,
                        created_ms=now,
                        ack_within_ms=ack_within_ms,
                    )
                ).inserted_primary_key[0]
            )
            if people:
                c.execute(
                    sa.insert(deliveries_t),
                    [
                        {
                            "message_id": message_id,
                            "person": p,
                            "via": "",
                            "sends": 1,
                            "deadline_ms": now + ack_within_ms,
                            "escalated": False,
                        }
                        for p in people
                    ],
                )
            c.execute(
                sa.insert(feed_t).values(message_id=message_id, target=target, kind="message")
            )
        self.incidents.record(
            actor=sender,
            action="broadcast.send",
            target=f"message:{message_id}",
            detail=f"to {', '.join(audience)} ({len(people)} people): {text}",
            incident_id=incident_id,
            kind="message",
        )
        return message_id

    def acknowledge(self, *, message_id: int, person: str) -> bool:
        """True the first time `person` acknowledges; False if already done."""
        msg = self.message(message_id=message_id)
        where = (deliveries_t.c.message_id == message_id, deliveries_t.c.person == person)
        with self.engine.begin() as c:
            lock_feed(c)
            row = c.execute(sa.select(deliveries_t).where(*where)).first()
            if row is None:
                raise NotFound(f"message {message_id} was not sent to {person}")
            if row.acked_ms is not None:
                return False
            c.execute(sa.update(deliveries_t).where(*where).values(acked_ms=self.clock.now_ms()))
            c.execute(
                sa.insert(feed_t).values(
                    message_id=message_id, target=EVERYONE, kind="ack", person=person
                )
            )
        self.incidents.record(
            actor=person,
            action="broadcast.ack",
            target=f"message:{message_id}",
            incident_id=msg["incident_id"],
            kind="ack",
        )
        return True

    def escalate_due(self) -> list[tuple[int, str, str | None]]:
        """Re-send to everyone past their deadline and escalate to the next person.

        Each late delivery is re-sent once and handed to the roster's next person (with
        a fresh deadline, so the chain goes on). (message, person, next) of each.
        """
        now = self.clock.now_ms()
        q = (
            sa.select(deliveries_t, roster_t.c.next_person)
            .join(roster_t, roster_t.c.person == deliveries_t.c.person, isouter=True)
            .where(
                deliveries_t.c.acked_ms.is_(None),
                deliveries_t.c.escalated.is_(False),
                deliveries_t.c.deadline_ms <= now,
            )
        )
        done: list[tuple[int, str, str | None]] = []
        with self.engine.begin() as c:
            lock_feed(c)
            for d in c.execute(q).all():
                key = (deliveries_t.c.message_id == d.message_id, deliveries_t.c.person == d.person)
                claimed = c.execute(
                    sa.update(deliveries_t)
                    .where(*key, deliveries_t.c.escalated.is_(False))
                    .values(escalated=True, sends=d.sends + 1)
                )
                if claimed.rowcount != 1:  # another caller escalated it first
                    continue
                c.execute(
                    sa.insert(feed_t).values(
                        message_id=d.message_id, target=f"person:{d.person}", kind="resend"
                    )
                )
                nxt = d.next_person
                window = c.execute(
                    sa.select(messages_t.c.ack_within_ms).where(messages_t.c.id == d.message_id)
                ).scalar_one()
                has = (
                    nxt is not None
                    and c.execute(
                        sa.select(deliveries_t.c.person).where(
                            deliveries_t.c.message_id == d.message_id, deliveries_t.c.person == nxt
                        )
                    ).first()
                )
                if nxt is not None and not has:
                    c.execute(
                        sa.insert(deliveries_t).values(
                            message_id=d.message_id,
                            person=nxt,
                            via=d.person,
                            sends=1,
                            deadline_ms=now + window,
                            escalated=False,
                        )
                    )
                    c.execute(
                        sa.insert(feed_t).values(
                            message_id=d.message_id, target=f"person:{nxt}", kind="escalation"
                        )
                    )
                done.append((d.message_id, d.person, nxt if not has else None))
        for message_id, person, nxt in done:
            incident_id = self.message(message_id=message_id)["incident_id"]
            self.incidents.record(
                actor="warroom",
                action="broadcast.escalate",
                target=f"message:{message_id}",
                detail=f"{person} -> {nxt}",
                incident_id=incident_id,
                kind="message",
            )
        return done

    # -- reading --------------------------------------------------------------------
    def message(self, *, message_id: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(sa.select(messages_t).where(messages_t.c.id == message_id)).first()
        if row is None:
            raise NotFound(f"no message {message_id}")
        return {**row._mapping, "audience": json.loads(row.audience)}

    def roll_call(self, *, message_id: int) -> RollCall:
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(deliveries_t.c.person, deliveries_t.c.acked_ms).where(
                    deliveries_t.c.message_id == message_id
                )
            ).all()
        return RollCall(
            message_id,
            sorted(p for p, a in rows if a is not None),
            sorted(p for p, a in rows if a is None),
        )

    def pending_for(
        self, *, person: str | None, roles: Sequence[str], last_event_id: int = 0
    ) -> list[FeedEvent]:
        """The feed after `Last-Event-ID` for one client (what the SSE layer sends)."""
        q = sa.select(feed_t).where(feed_t.c.event_id > last_event_id).order_by(feed_t.c.event_id)
        with self.engine.connect() as c:
            events = [
                FeedEvent(r.event_id, r.message_id, r.target, r.kind, r.person)
                for r in c.execute(q)
            ]
        return select_pending(events, person=person, roles=roles, last_event_id=last_event_id)
