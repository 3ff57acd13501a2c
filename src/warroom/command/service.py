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

    def acknowledge_notice(self, *, outbox_id: int, by: str) -> dict[str, Any]:
        """A merchant's operator confirms a notice; audited, and on the run's incident."""
        row = merchants.acknowledge(
            self.engine, outbox_id=outbox_id, by=by, now_ms=self.clock.now_ms()
        )
        run_id = (
            int(row["ref"].split("/")[0].removeprefix("run:"))
            if row["ref"].startswith("run:")
            else None
        )
        incident_id = runstore.incident_of(self.engine, run_id) if run_id is not None else None
        self.incidents.record(
            actor=by,
            action="notice.ack",
            target=f"notice:{outbox_id}",
            detail=f"{row['merchant_id']} ({row['ref']})",
            incident_id=incident_id,
            kind="ack",
        )
        return row
