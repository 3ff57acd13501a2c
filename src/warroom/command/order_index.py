"""The server's order index, written by a thread of its own.

Indexing a step's order lines is SQLite work (B-tree inserts of random text keys, a
few microseconds a row) that the one writer thread did inline, while every ingest
request waited for that writer. Here the writer hands the rows over and goes on; the
index thread inserts them in one statement per step, without the GIL.

It is a participant of the engine's checkpoint (`Runner.join`): its state is the
backlog, the rows handed over and not yet written, saved in the checkpoint's own
transaction. So a record the store counts is in the index or in that backlog, and a
resume after `kill -9` feeds the backlog again (inserts are idempotent by record id)
before the records past the checkpoint. A checkpoint does not wait for the index.

The thread writes through a connection of its own, whose SQLite page cache for the
order index is 64 MiB instead of SQLite's 2 MB: each insert walks two B-trees of random
text keys, and with 64 KiB pages a 2 MB cache holds 31 of them. 1 M order lines with
random ids in steps of 10,000 (session 14): 15.5-17.1 -> 12.5-13.0 s, 14.5-15.8 ->
11.3-11.6 CPU-s. Only this connection has the large cache: the pool's others keep
SQLite's default.

A query waits for the rows handed over before it, so a step that saw an order reads
it back (a hold placed just after the order arrived finds it). A failed insert stays
queued and is retried; until it succeeds, queries raise its error.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
import time
from collections import deque

import polars as pl
import sqlalchemy as sa

from warroom.command.orders import Scope, SqlOrderSource, insert_rows, split
from warroom.store.db import ORDERS_SCHEMA

log = logging.getLogger("warroom.command.orders")
MAX_QUEUED = 64  # steps handed over and not yet written: past it, `feed` waits (bounded memory)
CACHE_KIB = 65_536  # the index thread's SQLite page cache for the order index


class BackgroundOrderIndex(SqlOrderSource):
    def __init__(self, engine: sa.Engine, retry_seconds: float = 0.5) -> None:
        super().__init__(engine)
        self.retry_seconds = retry_seconds
        # (lines, ships) for the index thread, and the same rows as other frame objects
        # for `checkpoint_state` in the writer thread: a frame being written out by one
        # thread and read by another deadlocked (each waited for the frame's lock while
        # the other held the GIL); clones share the data, not the lock
        self._queue: deque[tuple[pl.DataFrame, pl.DataFrame]] = deque()
        self._saved: deque[tuple[pl.DataFrame, pl.DataFrame]] = deque()
        self._fed = 0  # steps handed over
        self._written = 0  # steps written
        self._error: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._conn: sa.Connection | None = None  # the index thread's own
        self._thread = threading.Thread(target=self._loop, name="warroom-order-index", daemon=True)
        self._thread.start()

    def feed(self, records: pl.DataFrame | None) -> int:
        lines, ships = split(records)
        self._hand_over(lines, ships)
        return lines.height + ships.height

    def _hand_over(self, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        if lines.height + ships.height == 0:
            return
        if self._closed:  # after the server's last checkpoint: nobody waits any more
            self._write(lines, ships)
            return
        with self._cond:
            while len(self._queue) >= MAX_QUEUED and self._error is None and not self._closed:
                self._cond.wait(0.5)
            self._queue.append((lines, ships))
            self._saved.append((lines.clone(), ships.clone()))
            self._fed += 1
            self._cond.notify_all()

    def wait(self, timeout: float = 60.0) -> None:
        """Return once every step handed over before this call is written; raise the
        insert's error while one is failing, TimeoutError if it takes longer."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._fed
            while self._written < target:
                if self._error is not None:
                    raise RuntimeError(f"the order index cannot be written: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the order index fell behind by more than a minute")
                self._cond.wait(left)

    def close(self) -> None:
        """Write what is queued (for up to a minute), then stop the thread."""
        try:
            self.wait()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=5)

    # -- a checkpoint participant ------------------------------------------------------
    def checkpoint_state(self) -> bytes:
        """The backlog: every row handed over and not yet written (the step being
        written now included: written twice is the same as once)."""
        with self._cond:
            backlog = list(self._saved)
        return pickle.dumps(tuple(_ipc([b[i] for b in backlog]) for i in (0, 1)))

    def restore_state(self, state: bytes, deltas: list[bytes] | None = None) -> None:
        lines, ships = (
            pl.read_ipc(io.BytesIO(b)) if b else pl.DataFrame() for b in pickle.loads(state)
        )
        self._hand_over(lines, ships)

    def start_fresh(self) -> None:
        pass  # the index's tables are its state; nothing was pending

    # -- queries --------------------------------------------------------------------
    def orders_in(self, scope: Scope, *, unshipped: bool = False) -> list[str]:
        self.wait()
        return super().orders_in(scope, unshipped=unshipped)

    def merchants_in(self, scope: Scope) -> list[str]:
        self.wait()
        return super().merchants_in(scope)

    def _write(self, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        if threading.current_thread() is not self._thread:  # a feed after `close`
            super()._write(lines, ships)
            return
        try:
            if self._conn is None:
                self._conn = self._connect()
            with self._conn.begin():
                insert_rows(self._conn, lines, ships)
        except Exception:
            self._disconnect()  # the retry starts on a new connection
            raise

    def _connect(self) -> sa.Connection:
        conn = self.engine.connect()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA {ORDERS_SCHEMA}.cache_size=-{CACHE_KIB}")
            conn.commit()
        return conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # not back to the pool with its large cache
                self._conn.close()
            finally:
                self._conn = None

    def _loop(self) -> None:
        try:
            self._run()
        finally:
            self._disconnect()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                lines, ships = self._queue[0]  # popped only once written
            try:
                self._write(lines, ships)
            except Exception as exc:  # e.g. a full disk: keep the rows, try again
                if self._error is None:  # once per outage, not at every retry
                    log.exception("writing the order index failed; retrying")
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                time.sleep(self.retry_seconds)
                continue
            with self._cond:
                self._queue.popleft()
                self._saved.popleft()
                self._written += 1
                self._error = None
                self._cond.notify_all()


def _ipc(frames: list[pl.DataFrame]) -> bytes:
    frames = [f for f in frames if f.height]
    if not frames:
        return b""
    buf = io.BytesIO()
    pl.concat(frames).write_ipc(buf, compression="lz4")  # a tenth of the bytes for ~4 ms
    return buf.getvalue()
