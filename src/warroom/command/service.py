"""One object that wires the command services together on the store's engine.

The HTTP layer builds one `Command` at start and calls its services; tests build one
on a temporary SQLite file with a `FakeClock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from warroom.command import runstore
from warroom.command.actions import merchants
from warroom.command.audit_chain import AuditChain
from warroom.command.broadcast import BroadcastService
from warroom.command.clock import Clock, SystemClock
from warroom.command.errors import Forbidden
from warroom.command.incidents import IncidentService
from warroom.command.orders import OrderSource, SqlOrderSource
from warroom.command.plans import Plan, params_from_alert
from warroom.command.runs import RunService


@dataclass
class Command:
    engine: sa.Engine
    clock: Clock
    audit: AuditChain
    incidents: IncidentService
    broadcast: BroadcastService
    orders: OrderSource
    runs: RunService

    @classmethod
    def open(
        cls,
        *,
        engine: sa.Engine,
        clock: Clock | None = None,
        orders: OrderSource | None = None,
        audit_clock: Clock | None = None,
    ) -> Command:
        """clock drives timers (event time in a replay); audit_clock stamps the audit
        trail (UTC wall time unless a test fixes it)."""
        clock = clock or SystemClock()
        audit = AuditChain(engine, audit_clock or SystemClock())
        incidents = IncidentService(engine, clock, audit)
        broadcast = BroadcastService(engine=engine, clock=clock, incidents=incidents)
        orders = orders or SqlOrderSource(engine)
        runs = RunService(
            engine=engine, clock=clock, incidents=incidents, orders=orders, broadcast=broadcast
        )
        return cls(engine, clock, audit, incidents, broadcast, orders, runs)

    def start_from_alert(
        self, *, plan: Plan, alert: dict[str, Any], commander: str, by: str
    ) -> tuple[int, int]:
        """Declare an incident from the alert and start the plan on its scope: (incident, run)."""
        incident_id = self.incidents.declare_from_alert(alert=alert, commander=commander, by=by)
        params = params_from_alert(plan, alert)
        run_id = self.runs.start(plan=plan, params=params, by=by, incident_id=incident_id)
        return incident_id, run_id

    def _incident_of_ref(self, ref: str) -> int | None:
        """The incident of an action's `run:<id>/step:<n>`, if it has one."""
        if not ref.startswith("run:"):
            return None
        return runstore.incident_of(self.engine, int(ref.split("/")[0].removeprefix("run:")))

    def acknowledge_notice(
        self, *, outbox_id: int, by: str, merchant: str | None = None
    ) -> dict[str, Any]:
        """A merchant's operator confirms a notice; audited, and on the run's incident.
        `merchant`: the caller acts for that merchant only; another merchant's notice is
        Forbidden and a `denied` row in the chain (not on the incident: nothing happened
        to the incident)."""
        try:
            row = merchants.acknowledge(
                self.engine,
                outbox_id=outbox_id,
                by=by,
                now_ms=self.clock.now_ms(),
                merchant_id=merchant,
            )
        except Forbidden:
            owner = merchants.owner_of(self.engine, outbox_id)
            self.incidents.record(
                actor=by,
                action="notice.ack",
                target=f"notice:{outbox_id}",
                result="denied",
                detail=f"notice for merchant {owner}; the caller acts for merchant {merchant}",
            )
            raise
        self.incidents.record(
            actor=by,
            action="notice.ack",
            target=f"notice:{outbox_id}",
            detail=f"{row['merchant_id']} ({row['ref']})",
            incident_id=self._incident_of_ref(row["ref"]),
            kind="ack",
        )
        return row

    def deliver_notices(self, *, send: merchants.Sender, now_ms: int, **kw: Any) -> dict[str, int]:
        """One delivery round; each step's sent and failed notices become one audited
        timeline entry (a retry is not news: the notices API shows it)."""
        outcomes: list[tuple[merchants.Notice, str, str]] = []
        counts = merchants.deliver_due(
            self.engine, send=send, now_ms=now_ms, outcomes=outcomes, **kw
        )
        by_ref: dict[str, list[tuple[merchants.Notice, str, str]]] = {}
        for notice, outcome, error in outcomes:
            if outcome != "retried":
                by_ref.setdefault(notice.ref, []).append((notice, outcome, error))
        for ref, done in by_ref.items():
            sent = [n.merchant_id for n, o, _ in done if o == "sent"]
            failed = [f"{n.merchant_id} ({e[:120]})" for n, o, e in done if o == "failed"]
            parts = ([f"sent to {', '.join(sent)}"] if sent else []) + (
                [f"failed: {'; '.join(failed)}"] if failed else []
            )
            self.incidents.record(
                actor="warroom",
                action="notice.deliver",
                target=ref,
                result="failed" if failed else "ok",
                detail=" · ".join(parts)[:2000],
                incident_id=self._incident_of_ref(ref),
                kind="message",
            )
        return counts
