"""A hash-chained, append-only audit table.

Each row's `hash` is SHA-256 over the previous row's hash and this row's fields, so
changing, removing or inserting a row breaks every hash after it; `verify` names the
first row that does not follow. The database itself refuses UPDATE and DELETE
(SQLite triggers that RAISE(ABORT); on PostgreSQL a trigger function), so tampering
takes dropping the trigger first, which `verify` then exposes. `prev_hash` is unique:
two writers racing for the same place in the chain cannot fork it; the loser retries.
Removing the newest rows leaves a valid shorter chain: publish `head()` elsewhere
(e.g. in the incident review) to pin it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from warroom.command.clock import Clock, SystemClock

GENESIS = "0" * 64
metadata = sa.MetaData()
chain_t = sa.Table(
    "cmd_audit_chain",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("utc_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=False),  # ok | denied | failed | rejected ...
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False),
)
FIELDS = ("seq", "utc_ms", "actor", "action", "target", "result", "detail")
_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS cmd_audit_chain_no_{op.lower()} BEFORE {op} ON "
    f"cmd_audit_chain BEGIN SELECT RAISE(ABORT, 'cmd_audit_chain is append-only'); END"
    for op in ("UPDATE", "DELETE")
]
_POSTGRES = [
    "CREATE OR REPLACE FUNCTION cmd_audit_refuse() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'cmd_audit_chain is append-only'; END $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE TRIGGER cmd_audit_chain_no_change BEFORE UPDATE OR DELETE ON "
    "cmd_audit_chain FOR EACH ROW EXECUTE FUNCTION cmd_audit_refuse()",
    "CREATE OR REPLACE TRIGGER cmd_audit_chain_no_truncate BEFORE TRUNCATE ON "
    "cmd_audit_chain FOR EACH STATEMENT EXECUTE FUNCTION cmd_audit_refuse()",
]


def digest(prev_hash: str, row: dict[str, Any]) -> str:
    body = json.dumps([row[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Tampered:
    seq: int  # the first row that does not follow the chain
    reason: str


class AuditChain:
    def __init__(self, engine: sa.Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()  # audit times are UTC wall time
        metadata.create_all(engine)
        ddl = _POSTGRES if engine.dialect.name == "postgresql" else _SQLITE
        with engine.begin() as c:
            for statement in ddl:
                c.exec_driver_sql(statement)

    def append(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        result: str = "ok",
        detail: str = "",
        utc_ms: int | None = None,
    ) -> int:
        """Add one event at the end of the chain; its sequence number.

        utc_ms: when the event happened, if the caller stamped it (AuditLog's events);
        otherwise now on the audit clock."""
        for _ in range(20):
            try:
                with self.engine.begin() as c:
                    last = c.execute(
                        sa.select(chain_t.c.seq, chain_t.c.hash).order_by(chain_t.c.seq.desc())
                    ).first()
                    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
                    row = dict(
                        seq=seq,
                        utc_ms=self.clock.now_ms() if utc_ms is None else int(utc_ms),
                        actor=actor,
                        action=action,
                        target=target,
                        result=result,
                        detail=detail,
                    )
                    c.execute(
                        sa.insert(chain_t).values(**row, prev_hash=prev, hash=digest(prev, row))
                    )
                    return seq
            except sa.exc.IntegrityError:
                continue  # another writer took this place in the chain: read the new end
            except sa.exc.OperationalError as exc:  # SQLite: our read went stale under WAL
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.005)
        raise RuntimeError("audit chain: could not append after 20 tries")

    def rows(self, *, after: int = 0) -> list[dict[str, Any]]:
        q = sa.select(chain_t).where(chain_t.c.seq > after).order_by(chain_t.c.seq)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def head(self) -> str:
        with self.engine.connect() as c:
            q = sa.select(chain_t.c.hash).order_by(chain_t.c.seq.desc()).limit(1)
            return c.execute(q).scalar() or GENESIS

    def verify(self) -> Tampered | None:
        """None if the chain is whole, else the first row that does not follow."""
        prev, expected = GENESIS, 1
        with self.engine.connect() as c:
            for r in c.execute(sa.select(chain_t).order_by(chain_t.c.seq)):
                row = dict(r._mapping)
                if row["seq"] != expected:
                    return Tampered(expected, f"row {expected} is missing")
                whole = digest(row["prev_hash"], row) == row["hash"]
                if row["prev_hash"] != prev:
                    if whole and expected > 1:  # this row is intact: the one before changed
                        return Tampered(
                            expected - 1,
                            "changed and re-hashed; the next row still holds its old hash",
                        )
                    return Tampered(expected, "does not follow the row before it")
                if not whole:
                    return Tampered(expected, "its contents were changed")
                prev, expected = row["hash"], expected + 1
        return None
