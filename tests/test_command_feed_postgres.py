"""The broadcast feed's ids become visible in order on PostgreSQL too.

A sequence hands out ids at insert time, not at commit: a writer that drew 1 and
commits late lets a reader see 2 first, and a hub that moved past 2 never reads 1.
`broadcast.lock_feed` serializes feed writers with a transaction-scoped advisory lock.
The statements are run through psql against the local server, as the audit chain's
PostgreSQL test does (the venv has no PostgreSQL driver); the SQLite test below checks
that every feed-writing transaction takes the lock first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from warroom.command import broadcast
from warroom.command.clock import FakeClock
from warroom.command.service import Command
from warroom.command.tables import feed_t
from warroom.store.db import Store

PSQL = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "test", "-X", "-q"]


def sql(stmt: sa.Executable) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def psql(script: str, schema: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*PSQL, "-v", "ON_ERROR_STOP=1", "-At"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(f"SET search_path TO {schema};\n{script}")
    proc.stdin.close()
    return proc


def visible(schema: str) -> list[int]:
    q = f"SELECT event_id FROM {schema}.cmd_feed ORDER BY event_id"
    out = subprocess.run([*PSQL, "-At", "-c", q], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return [int(x) for x in out.stdout.split()]


def race(schema: str, locked: bool) -> list[list[int]]:
    """Writer A draws an id and commits a second later; writer B starts meanwhile and
    commits at once (or waits for A's lock). What a reader saw, poll by poll."""
    lock = (
        ";\n".join(sql(s) for s in broadcast.feed_lock_statements("postgresql")) if locked else ""
    )
    insert = sql(sa.insert(feed_t).values(message_id=1, target="*", kind="message"))
    slow = psql(f"BEGIN;\n{lock};\n{insert};\nSELECT pg_sleep(1.0);\nCOMMIT;\n", schema)
    time.sleep(0.3)  # A holds its id (and the lock, if any)
    fast = psql(f"BEGIN;\n{lock};\n{insert};\nCOMMIT;\n", schema)
    seen: list[list[int]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        seen.append(visible(schema))
        if len(seen[-1]) == 2:
            break
        time.sleep(0.02)
    for proc in (slow, fast):
        assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
    return seen


@pytest.fixture
def schema() -> object:
    if shutil.which("psql") is None:
        pytest.skip("no psql on PATH")
    probe = subprocess.run([*PSQL, "-c", "select 1"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 (database test, user postgres) unreachable")
    name = f"cmd_feed_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    table = str(CreateTable(feed_t).compile(dialect=postgresql.dialect()))
    setup = subprocess.run(
        [*PSQL, "-v", "ON_ERROR_STOP=1", "-c", f"CREATE SCHEMA {name}"],
        capture_output=True,
        timeout=10,
    )
    assert setup.returncode == 0, setup.stderr
    try:
        made = psql(f"{table};\n", name)
        assert made.wait(timeout=10) == 0, made.stderr.read() if made.stderr else ""
        yield name
    finally:
        subprocess.run([*PSQL, "-c", f"DROP SCHEMA {name} CASCADE"], capture_output=True)


def test_feed_ids_commit_in_order_on_postgres(schema: str) -> None:
    # without the lock the late id shows up after a higher one: the hazard is real here
    unlocked = race(schema, locked=False)
    _first, second = visible(schema)
    assert [second] in unlocked, unlocked
    subprocess.run([*PSQL, "-c", f"TRUNCATE {schema}.cmd_feed"], capture_output=True, timeout=10)
    # with it, every poll sees a prefix of the final ids: nothing to step over
    locked = race(schema, locked=True)
    final = visible(schema)[-2:]
    assert len(final) == 2 and locked[-1][-2:] == final
    for ids in locked:
        assert ids == final[: len(ids)], locked


def test_every_feed_write_takes_the_lock_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite, with the lock statement swapped for a marker: in every transaction that
    writes the feed, the lock comes before any row is written (no lock-order deadlock)."""
    monkeypatch.setattr(
        broadcast, "feed_lock_statements", lambda _d: [sa.text("SELECT 'feed-lock'")]
    )
    engine = Store.open(tmp_path).engine
    clock = FakeClock(0)
    cmd = Command.open(engine=engine, clock=clock)
    cmd.broadcast.load_roster(
        [{"name": "ann", "role": "commander", "next": "ben"}, {"name": "ben", "role": "commander"}]
    )
    txns: list[list[str]] = []  # each transaction's statements, in order
    sa.event.listen(engine, "begin", lambda _c: txns.append([]))
    sa.event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, stmt, *_a: txns[-1].append(" ".join(stmt.split())) if txns else None,
    )
    mid = cmd.broadcast.send(text="x", roles=["commander"], sender="s", ack_within_ms=1_000)
    cmd.broadcast.acknowledge(message_id=mid, person="ben")
    clock.advance(2)
    assert cmd.broadcast.escalate_due() == [(mid, "ann", None)]  # ben holds it already
    writing = [t for t in txns if any(q.startswith("INSERT INTO cmd_feed") for q in t)]
    assert len(writing) == 3  # send, ack, escalation
    for t in writing:
        assert t[0] == "SELECT 'feed-lock'", t
