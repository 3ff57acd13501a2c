"""The audit trail's typed door for the API and the guards: `AuditLog.record(AuditEvent)`.

There is one trail: events go into the hash-chained, append-only `cmd_audit_chain`
(`command/audit_chain.py`) next to command's approvals, steps, messages and
acknowledgements, so `warroom audit verify` covers denials and logins too. The old
`audit_log` table is still created (older state directories hold it) but no longer
written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from warroom.command.audit_chain import AuditChain, chain_t

metadata = sa.MetaData()
audit_t = sa.Table(  # legacy: rows written before the trail moved into the chain
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("utc_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.Column("result", sa.String, nullable=False),  # ok | denied | failed
    sa.Column("detail", sa.Text, nullable=False, default=""),
)


@dataclass(frozen=True)
class AuditEvent:
    actor: str  # token id and role, e.g. "token:1a2b3c4d(viewer)", or "anonymous"
    action: str  # e.g. "acknowledge", "token.create"
    target: str  # what it was done to: a route, an alert id, a token id
    result: str
    detail: str = ""
    utc_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class AuditLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self.chain = AuditChain(engine)

    def record(self, event: AuditEvent) -> None:
        self.chain.append(
            actor=event.actor,
            action=event.action,
            target=event.target,
            result=event.result,
            detail=event.detail,
            utc_ms=event.utc_ms,
        )

    def recent(self, limit: int = 100, result: str | None = None) -> list[dict[str, Any]]:
        """Newest first, the whole trail (API, guards and command), with each row's hash."""
        q = sa.select(chain_t).order_by(chain_t.c.seq.desc()).limit(limit)
        if result is not None:
            q = q.where(chain_t.c.result == result)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]
