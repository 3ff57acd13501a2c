"""An append-only audit table. Rows are only ever inserted (a later issue hash-chains them)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()
audit_t = sa.Table(
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

    def record(self, event: AuditEvent) -> None:
        with self.engine.begin() as c:
            c.execute(sa.insert(audit_t).values(**asdict(event)))

    def recent(self, limit: int = 100, result: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(audit_t).order_by(audit_t.c.seq.desc()).limit(limit)
        if result is not None:
            q = q.where(audit_t.c.result == result)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]
