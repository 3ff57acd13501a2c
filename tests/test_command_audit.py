"""The audit chain: the database refuses UPDATE and DELETE; tampering is found at its row."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from warroom.cli import app
from warroom.command.audit_chain import AuditChain, chain_t, digest
from warroom.command.clock import FakeClock
from warroom.store.db import Store


@pytest.fixture
def chain(tmp_path: Path) -> AuditChain:
    chain = AuditChain(Store.open(tmp_path).engine, FakeClock(1_000))
    for i in range(1, 7):
        chain.append(
            actor=f"token:{i}(commander)",
            action="step.approve",
            target=f"run:1/step:{i}",
            result="ok",
            detail=f"approval {i}",
        )
    return chain


def _drop_triggers(chain: AuditChain) -> None:
    with chain.engine.begin() as c:
        for op in ("update", "delete"):
            c.exec_driver_sql(f"DROP TRIGGER cmd_audit_chain_no_{op}")


def test_whole_chain_verifies_and_links(chain: AuditChain) -> None:
    rows = chain.rows()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    assert chain.verify() is None and chain.head() == rows[-1]["hash"]


def test_database_refuses_update_and_delete(chain: AuditChain) -> None:
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), chain.engine.begin() as c:
        c.execute(sa.update(chain_t).where(chain_t.c.seq == 2).values(result="denied"))
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), chain.engine.begin() as c:
        c.execute(sa.delete(chain_t).where(chain_t.c.seq == 2))
    with pytest.raises(sa.exc.IntegrityError), chain.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM cmd_audit_chain")
    assert len(chain.rows()) == 6 and chain.verify() is None
    AuditChain(chain.engine)  # opening again keeps the triggers (IF NOT EXISTS)
    with pytest.raises(sa.exc.IntegrityError), chain.engine.begin() as c:
        c.execute(sa.update(chain_t).values(detail=""))


def test_changed_row_is_named(chain: AuditChain) -> None:
    _drop_triggers(chain)
    with chain.engine.begin() as c:
        c.execute(sa.update(chain_t).where(chain_t.c.seq == 4).values(result="denied"))
    tampered = chain.verify()
    assert tampered is not None and tampered.seq == 4 and "contents" in tampered.reason


def test_changed_and_rehashed_row_is_named(chain: AuditChain) -> None:
    _drop_triggers(chain)
    row = next(r for r in chain.rows() if r["seq"] == 3)
    row["actor"] = "token:evil(admin)"
    with chain.engine.begin() as c:
        c.execute(
            sa.update(chain_t)
            .where(chain_t.c.seq == 3)
            .values(actor=row["actor"], hash=digest(row["prev_hash"], row))
        )
    tampered = chain.verify()
    assert tampered is not None and tampered.seq == 3


def test_deleted_row_is_named_and_cli_says_so(chain: AuditChain, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert ok.exit_code == 0 and "ok: 6 rows" in ok.output
    _drop_triggers(chain)
    with chain.engine.begin() as c:
        c.execute(sa.delete(chain_t).where(chain_t.c.seq == 5))
    assert chain.verify().seq == 5  # type: ignore[union-attr]
    bad = runner.invoke(app, ["audit", "verify", "--data", str(tmp_path)])
    assert bad.exit_code == 1 and "tampered: row 5: row 5 is missing" in bad.output


def test_racing_writers_do_not_fork_the_chain(tmp_path: Path) -> None:
    import threading

    engine = Store.open(tmp_path).engine
    chains = [AuditChain(engine) for _ in range(4)]
    errors: list[BaseException] = []

    def write(chain: AuditChain, n: int) -> None:
        try:
            for i in range(15):
                chain.append(actor=f"w{n}", action="note", target=str(i))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c, n)) for n, c in enumerate(chains)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(chains[0].rows()) == 60 and chains[0].verify() is None


def test_postgres_refuses_update_delete_truncate() -> None:
    """The PostgreSQL DDL, run through psql (the venv has no PostgreSQL driver)."""
    import os
    import shutil
    import subprocess

    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from warroom.command.audit_chain import _POSTGRES

    if shutil.which("psql") is None:
        pytest.skip("no psql")
    probe = ["psql", "-h", "127.0.0.1", "-d", "test", "-X", "-q", "-c", "select 1"]
    if subprocess.run(probe, capture_output=True, timeout=10).returncode != 0:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432/test")
    schema = f"cmd_audit_probe_{os.getpid()}"
    table = str(CreateTable(chain_t).compile(dialect=postgresql.dialect()))
    setup = [
        f"CREATE SCHEMA {schema}",
        f"SET search_path TO {schema}",
        table,
        *_POSTGRES,
        "INSERT INTO cmd_audit_chain VALUES (1, 0, 'a', 'b', 'c', 'ok', '', 'p', 'h')",
    ]
    tries = [
        "UPDATE cmd_audit_chain SET result = 'denied'",
        "DELETE FROM cmd_audit_chain",
        "TRUNCATE cmd_audit_chain",
    ]
    script = (
        ";\n".join(setup)
        + ";\n\\set ON_ERROR_STOP off\n"
        + ";\n".join(tries)
        + (f";\nSELECT 'rows=' || count(*) FROM cmd_audit_chain;\nDROP SCHEMA {schema} CASCADE;\n")
    )
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-d", "test", "-X", "-v", "ON_ERROR_STOP=1", "-At"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stderr.count("cmd_audit_chain is append-only") == 3, out.stderr
    assert "rows=1" in out.stdout
