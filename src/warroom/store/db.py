"""Persistence: SQLite under --data DIR by default (SQLAlchemy Core, so PostgreSQL fits).

One transaction per checkpoint holds the source position, the engine state, the new
index runs, the finalised cells and the quarantined and late records. A crash at any
point leaves either the previous checkpoint or the new one, never a mix; see
docs/architecture.md, "Checkpoints".
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from warroom.engine.rollup import Part
from warroom.engine.runs import Run
from warroom.participants import Delta

metadata = sa.MetaData()
# An attached database (SQLite: `orders.db` beside `warroom.db`) for tables written by
# a thread of their own while checkpoints commit to the main one (command's order index)
ORDERS_SCHEMA = "orders"
meta_t = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
checkpoint_t = sa.Table(
    "checkpoint",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),  # fingerprint of the input
    sa.Column("offset", sa.BigInteger, nullable=False),  # bytes (NDJSON) or rows (Arrow)
    sa.Column("line", sa.BigInteger, nullable=False),  # last line / row consumed
    sa.Column("complete", sa.Boolean, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
)
runs_t = sa.Table(
    "index_runs",
    metadata,
    sa.Column("run_id", sa.BigInteger, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
# The open minute and hour rollups, part by part (engine/rollup.py, Part)
rollup_parts_t = sa.Table(
    "rollup_parts",
    metadata,
    sa.Column("part_id", sa.BigInteger, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
segments_t = sa.Table(
    "segments",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("period_ms", sa.Integer, nullable=False, index=True),
    sa.Column("t0", sa.BigInteger, nullable=False),
    sa.Column("t1", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # Arrow IPC of cells
)
quarantine_t = sa.Table(
    "quarantine",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)
# The state of what else reads the stream (the watch, the guards), written in the same
# transaction as the engine's, so both resume from one point.
participant_t = sa.Table(
    "participant_state",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("state", sa.LargeBinary, nullable=False),
)
# A journaled participant's changes since its last full state, in order: its checkpoint
# costs what changed, not all it holds (a guard's book grows all day).
participant_log_t = sa.Table(
    "participant_log",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("delta", sa.LargeBinary, nullable=False),
)
late_t = sa.Table(
    "late",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
)


@dataclass
class Checkpoint:
    source: str
    offset: int
    line: int
    complete: bool
    state: bytes


@dataclass
class Commit:
    """What one checkpoint writes, atomically."""

    source: str
    offset: int
    line: int
    complete: bool
    state: bytes
    new_runs: list[Run]
    dropped_runs: list[int]
    cells: dict[int, list[pl.DataFrame]]
    quarantined: list[dict[str, Any]]
    late: list[pl.DataFrame]  # late_t's rows
    participants: dict[str, bytes | Delta] = field(default_factory=dict)
    new_parts: list[Part] = field(default_factory=list)
    dropped_parts: list[int] = field(default_factory=list)


class Store:
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_setup(self.engine.url.database))
        else:  # one database holds every table
            self.engine = self.engine.execution_options(schema_translate_map={ORDERS_SCHEMA: None})
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Close the pooled connections; SQLite folds its write-ahead log into the file."""
        self.engine.dispose()

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{data_dir / 'warroom.db'}")

    # -- meta -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as c:
            return c.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).scalar()

    def set_meta(self, values: dict[str, str]) -> None:
        with self.engine.begin() as c:
            for key, value in values.items():
                c.execute(sa.delete(meta_t).where(meta_t.c.key == key))
                c.execute(sa.insert(meta_t).values(key=key, value=value))

    # -- checkpoints ------------------------------------------------------------
    def load_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(checkpoint_t).where(checkpoint_t.c.id == 1)).first()
        if row is None:
            return None
        return Checkpoint(row.source, row.offset, row.line, row.complete, row.state)

    def load_participant(self, name: str) -> tuple[bytes, list[bytes]] | None:
        """A participant's last full state and the deltas written after it, in order."""
        with self.engine.connect() as c:
            q = sa.select(participant_t.c.state).where(participant_t.c.name == name)
            state = c.execute(q).scalar()
            if state is None:
                return None
            log = participant_log_t.c
            q = sa.select(log.delta).where(log.name == name).order_by(log.seq)
            return state, list(c.execute(q).scalars())

    def save_participant(self, name: str, state: bytes) -> None:
        """A state saved outside a checkpoint (the server's watch saves its own)."""
        with self.engine.begin() as c:
            _write_participant(c, name, state)

    def load_parts(self) -> dict[int, Part]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(rollup_parts_t)).all()
        return {r.part_id: Part.from_bytes(r.part_id, r.data) for r in rows}

    def load_runs(self) -> dict[int, Run]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(runs_t)).all()
        return {r.run_id: Run.from_bytes(r.run_id, r.data) for r in rows}

    def commit(self, cp: Commit) -> None:
        with self.engine.begin() as c:
            if cp.dropped_runs:
                c.execute(sa.delete(runs_t).where(runs_t.c.run_id.in_(cp.dropped_runs)))
            for run in cp.new_runs:
                c.execute(sa.insert(runs_t).values(run_id=run.run_id, data=run.to_bytes()))
            if cp.dropped_parts:
                gone = rollup_parts_t.c.part_id.in_(cp.dropped_parts)
                c.execute(sa.delete(rollup_parts_t).where(gone))
            for part in cp.new_parts:
                c.execute(
                    sa.insert(rollup_parts_t).values(part_id=part.part_id, data=part.to_bytes())
                )
            for period, frames in cp.cells.items():
                if frames:
                    cells = pl.concat(frames)
                    c.execute(
                        sa.insert(segments_t).values(
                            period_ms=period,
                            t0=int(cells["win"].min()),  # type: ignore[arg-type]
                            t1=int(cells["win"].max()),
                            data=_ipc(cells),  # type: ignore[arg-type]
                        )
                    )
            if cp.quarantined:
                c.execute(sa.insert(quarantine_t), cp.quarantined)
            if cp.late:
                insert_frame(c, late_t, pl.concat(cp.late))
            for name, state in cp.participants.items():
                _write_participant(c, name, state)
            c.execute(sa.delete(checkpoint_t))
            c.execute(
                sa.insert(checkpoint_t).values(
                    id=1,
                    source=cp.source,
                    offset=cp.offset,
                    line=cp.line,
                    complete=cp.complete,
                    state=cp.state,
                )
            )

    # -- reads ------------------------------------------------------------------
    def cells(self, period_ms: int, t0: int | None = None, t1: int | None = None) -> pl.DataFrame:
        """All cells of a period overlapping [t0, t1] (window starts, ms), in no order."""
        q = sa.select(segments_t.c.data).where(segments_t.c.period_ms == period_ms)
        if t0 is not None:
            q = q.where(segments_t.c.t1 >= t0)
        if t1 is not None:
            q = q.where(segments_t.c.t0 <= t1)
        with self.engine.connect() as c:
            blobs = c.execute(q.order_by(segments_t.c.seq)).scalars().all()
        frames = [pl.read_ipc(io.BytesIO(b)) for b in blobs]
        if not frames:
            return pl.DataFrame()
        out = pl.concat(frames)
        if t0 is not None:
            out = out.filter(pl.col("win") >= t0)
        if t1 is not None:
            out = out.filter(pl.col("win") <= t1)
        return out

    def first_window(self, period_ms: int) -> int | None:
        """The earliest window start stored for a period (None: no cells)."""
        q = sa.select(sa.func.min(segments_t.c.t0)).where(segments_t.c.period_ms == period_ms)
        with self.engine.connect() as c:
            return c.execute(q).scalar()

    def prune_segments(self, period_ms: int, before: int) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.delete(segments_t).where(
                    (segments_t.c.period_ms == period_ms) & (segments_t.c.t1 < before)
                )
            )

    def quarantined(self) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as c:
            for r in c.execute(sa.select(quarantine_t).order_by(quarantine_t.c.seq)):
                yield {"source": r.source, "line": r.line, "reason": r.reason, "raw": r.raw}

    def late_records(self) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as c:
            for r in c.execute(sa.select(late_t).order_by(late_t.c.seq)):
                yield {"source": r.source, "line": r.line, "id": r.id, "type": r.type, "ts": r.ts}


def insert_frame(c: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """A frame's rows into `table`, its columns by name. On SQLite they go in as one JSON
    text that SQLite takes apart (`json_each`): one statement, run without the GIL.
    SQLAlchemy's executemany built each row's parameters in Python, holding the GIL
    against every other thread of the server (the late records at 1 M/s offered)."""
    if c.dialect.name == "sqlite":
        cols = ", ".join(frame.columns)
        fields = ", ".join(f"value->>'{name}'" for name in frame.columns)
        sql = f"INSERT INTO {table.fullname} ({cols}) SELECT {fields} FROM json_each(?)"
        c.exec_driver_sql(sql, (frame.write_json(),))
    else:
        c.execute(sa.insert(table), frame.to_dicts())


def _ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf, compression="zstd")
    return buf.getvalue()


def _sqlite_setup(database: str | None) -> Any:
    """Each connection: WAL, and the order index's database attached (tables.py)."""
    main = database or ":memory:"
    orders = main if main == ":memory:" else str(Path(main).with_name("orders.db"))

    def setup(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("ATTACH DATABASE ? AS " + ORDERS_SCHEMA, (orders,))
        for schema in ("main", ORDERS_SCHEMA):
            # A new database's pages: 64 KiB. Most bytes are blobs of megabytes (index
            # runs, cell segments) that SQLite writes as chains of overflow pages, twice
            # (the log, then the file). 10 M events, session 12: 3.0 -> 1.9-2.1 system
            # CPU-s, 9.8 -> 9.2-9.6 s. (A database that exists keeps its page size.)
            cur.execute(f"PRAGMA {schema}.page_size=65536")
            cur.execute(f"PRAGMA {schema}.journal_mode=WAL")  # a kill -9 loses nothing committed
            cur.execute(f"PRAGMA {schema}.synchronous=NORMAL")
        cur.close()

    return setup


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _write_participant(c: sa.Connection, name: str, state: bytes | Delta) -> None:
    """A full state replaces the participant's state and journal; a delta is appended."""
    log = participant_log_t.c
    if isinstance(state, Delta):
        last = sa.select(sa.func.max(log.seq)).where(log.name == name)
        seq = (c.execute(last).scalar() or 0) + 1
        c.execute(sa.insert(participant_log_t).values(name=name, seq=seq, delta=state.data))
        return
    c.execute(sa.delete(participant_log_t).where(log.name == name))
    c.execute(sa.delete(participant_t).where(participant_t.c.name == name))
    c.execute(sa.insert(participant_t).values(name=name, state=state))
