"""The rows of plan runs and their steps: what `runs.py` reads and writes."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from warroom.command.errors import NotFound
from warroom.command.tables import run_steps_t, runs_t


def insert_run(engine: sa.Engine, *, run: dict[str, Any], steps: list[dict[str, Any]]) -> int:
    with engine.begin() as c:
        run_id = int(c.execute(sa.insert(runs_t).values(**run)).inserted_primary_key[0])
        c.execute(sa.insert(run_steps_t), [{**s, "run_id": run_id} for s in steps])
    return run_id


def get_run(engine: sa.Engine, run_id: int) -> dict[str, Any]:
    """The run with its steps (each step's `result` decoded)."""
    with engine.connect() as c:
        run = c.execute(sa.select(runs_t).where(runs_t.c.id == run_id)).first()
        if run is None:
            raise NotFound(f"no plan run {run_id}")
        steps = c.execute(
            sa.select(run_steps_t).where(run_steps_t.c.run_id == run_id).order_by(run_steps_t.c.idx)
        )
        out = dict(run._mapping)
        out["steps"] = [{**s._mapping, "result": json.loads(s.result)} for s in steps]
    return out


def list_runs(engine: sa.Engine, *, incident_id: int | None = None) -> list[dict[str, Any]]:
    q = sa.select(runs_t).order_by(runs_t.c.id.desc())
    if incident_id is not None:
        q = q.where(runs_t.c.incident_id == incident_id)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q)]


def overdue_steps(engine: sa.Engine, *, state: str, now_ms: int) -> list[tuple[int, int]]:
    q = sa.select(run_steps_t.c.run_id, run_steps_t.c.idx).where(
        run_steps_t.c.state == state, run_steps_t.c.deadline_ms < now_ms
    )
    with engine.connect() as c:
        return [(int(r), int(i)) for r, i in c.execute(q)]


def set_step(engine: sa.Engine, run_id: int, idx: int, **values: Any) -> None:
    with engine.begin() as c:
        c.execute(
            sa.update(run_steps_t)
            .where(run_steps_t.c.run_id == run_id, run_steps_t.c.idx == idx)
            .values(**values)
        )


def claim_step(engine: sa.Engine, run_id: int, idx: int, *, expect: str, **values: Any) -> bool:
    """Move a step on only if it is still in `expect`: of two racing approvers, one wins."""
    with engine.begin() as c:
        done = c.execute(
            sa.update(run_steps_t)
            .where(
                run_steps_t.c.run_id == run_id,
                run_steps_t.c.idx == idx,
                run_steps_t.c.state == expect,
            )
            .values(**values)
        )
        return done.rowcount == 1


def set_run(engine: sa.Engine, run_id: int, *, state: str, now_ms: int) -> None:
    with engine.begin() as c:
        c.execute(
            sa.update(runs_t).where(runs_t.c.id == run_id).values(state=state, updated_ms=now_ms)
        )


def incident_of(engine: sa.Engine, run_id: int) -> int | None:
    with engine.connect() as c:
        return c.execute(sa.select(runs_t.c.incident_id).where(runs_t.c.id == run_id)).scalar()
