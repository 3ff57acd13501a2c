"""Incidents: declare, commander and roles, status, a timeline of everything, resolve.

`IncidentService.record` is the one door for what happens during an incident: it
appends the event to the audit chain and, when it belongs to an incident, to that
incident's timeline (alert, decision, step, message, ack, status, note).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from warroom.command.audit_chain import AuditChain
from warroom.command.clock import Clock
from warroom.command.errors import InvalidTransition, NotFound
from warroom.command.tables import create, incident_roles_t, incidents_t, timeline_t

STATUSES = ("active", "mitigated", "resolved")
KINDS = ("alert", "decision", "step", "message", "ack", "status", "note")


class IncidentService:
    def __init__(self, engine: sa.Engine, clock: Clock, audit: AuditChain) -> None:
        self.engine, self.clock, self.audit = engine, clock, audit
        create(engine)

    # -- the one door ---------------------------------------------------------------
    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        result: str = "ok",
        detail: str = "",
        incident_id: int | None = None,
        kind: str = "note",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.audit.append(actor=actor, action=action, target=target, result=result, detail=detail)
        if incident_id is not None:
            text = f"{action} {target}: {result}" + (f" — {detail}" if detail else "")
            with self.engine.begin() as c:
                c.execute(
                    sa.insert(timeline_t).values(
                        incident_id=incident_id,
                        ts_ms=self.clock.now_ms(),
                        kind=kind,
                        actor=actor,
                        text=text,
                        data=json.dumps(data or {}, sort_keys=True),
                    )
                )

    # -- lifecycle ------------------------------------------------------------------
    def declare(
        self,
        *,
        title: str,
        commander: str,
        by: str,
        severity: str = "critical",
        source: str = "manual",
    ) -> int:
        with self.engine.begin() as c:
            incident_id = c.execute(
                sa.insert(incidents_t).values(
                    title=title,
                    severity=severity,
                    status="active",
                    commander=commander,
                    source=source,
                    created_ms=self.clock.now_ms(),
                )
            ).inserted_primary_key[0]
            c.execute(
                sa.insert(incident_roles_t).values(
                    incident_id=incident_id, role="commander", person=commander
                )
            )
        self.record(
            actor=by,
            action="incident.declare",
            target=f"incident:{incident_id}",
            detail=f"{title} (commander {commander}, from {source})",
            incident_id=incident_id,
            kind="decision",
        )
        return int(incident_id)

    def declare_from_alert(self, *, alert: dict[str, Any], commander: str, by: str) -> int:
        incident_id = self.declare(
            title=alert.get("summary") or f"{alert.get('metric')} {alert.get('direction')}",
            commander=commander,
            by=by,
            severity=alert.get("severity", "critical"),
            source=f"alert:{alert.get('id')}",
        )
        self.add_alert(incident_id=incident_id, alert=alert)
        return incident_id

    def add_alert(self, *, incident_id: int, alert: dict[str, Any]) -> None:
        self.get(incident_id=incident_id)
        self.record(
            actor=f"source:{alert.get('source', 'kpi')}",
            action=f"alert.{alert.get('state', 'firing')}",
            target=f"alert:{alert.get('id')}",
            detail=alert.get("summary", ""),
            incident_id=incident_id,
            kind="alert",
            data=alert,
        )

    def assign(self, *, incident_id: int, role: str, person: str, by: str) -> None:
        self._open(incident_id)
        with self.engine.begin() as c:
            c.execute(
                sa.delete(incident_roles_t).where(
                    incident_roles_t.c.incident_id == incident_id, incident_roles_t.c.role == role
                )
            )
            c.execute(
                sa.insert(incident_roles_t).values(
                    incident_id=incident_id, role=role, person=person
                )
            )
            if role == "commander":
                c.execute(
                    sa.update(incidents_t)
                    .where(incidents_t.c.id == incident_id)
                    .values(commander=person)
                )
        self.record(
            actor=by,
            action="incident.assign",
            target=f"incident:{incident_id}",
            detail=f"{role}: {person}",
            incident_id=incident_id,
            kind="decision",
        )

    def set_status(self, *, incident_id: int, status: str, by: str, note: str = "") -> None:
        if status not in STATUSES:
            raise InvalidTransition(f"status must be one of {', '.join(STATUSES)}")
        self._open(incident_id)
        values: dict[str, Any] = {"status": status}
        if status == "resolved":
            values["resolved_ms"] = self.clock.now_ms()
        with self.engine.begin() as c:
            c.execute(
                sa.update(incidents_t).where(incidents_t.c.id == incident_id).values(**values)
            )
        self.record(
            actor=by,
            action=f"incident.{status}",
            target=f"incident:{incident_id}",
            detail=note,
            incident_id=incident_id,
            kind="status",
        )

    def resolve(self, *, incident_id: int, by: str, note: str = "") -> None:
        self.set_status(incident_id=incident_id, status="resolved", by=by, note=note)

    # -- reading --------------------------------------------------------------------
    def get(self, *, incident_id: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(sa.select(incidents_t).where(incidents_t.c.id == incident_id)).first()
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            roles = c.execute(
                sa.select(incident_roles_t.c.role, incident_roles_t.c.person).where(
                    incident_roles_t.c.incident_id == incident_id
                )
            )
            return {**row._mapping, "roles": {role: person for role, person in roles}}

    def list(self, *, status: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(incidents_t).order_by(incidents_t.c.id.desc())
        if status is not None:
            q = q.where(incidents_t.c.status == status)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def timeline(self, *, incident_id: int) -> list[dict[str, Any]]:
        q = sa.select(timeline_t).where(timeline_t.c.incident_id == incident_id)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q.order_by(timeline_t.c.seq))]
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def _open(self, incident_id: int) -> None:
        if self.get(incident_id=incident_id)["status"] == "resolved":
            raise InvalidTransition(f"incident {incident_id} is resolved")
