"""The server's order index, written by a thread of its own.

Indexing a step's order lines (command/orders.py: an Arrow blob per step and kind) is
work the one writer thread did inline, while every ingest request waited for that
writer. Here the writer hands the rows over and goes on; the index thread writes them,
mostly without the GIL.

It is a participant of the engine's checkpoint (`Runner.join`): its state is the
backlog, the rows handed over and not yet written, saved in the checkpoint's own
transaction, with the number (`seq`) of the first step not yet written. So a record
the store counts is in the index or in that backlog. A resume after `kill -9` deletes
the blocks from that number on (written after the checkpoint: the records past it are
fed again), then writes the backlog and goes on. A checkpoint does not wait for the
index.

A query waits for the rows handed over before it, so a step that saw an order reads
it back (a hold placed just after the order arrived finds it). A failed write stays
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

from warroom.command.orders import (
    LINE_SCHEMA,
    SHIP_SCHEMA,
    Scope,
    SqlOrderSource,
    ipc_bytes,
    next_seq,
    split,
    write_blocks,
)
from warroom.command.tables import create, order_blocks_t

log = logging.getLogger("warroom.command.orders")
MAX_QUEUED = 64  # steps handed over and not yet written: past it, `feed` waits (bounded memory)
Step = tuple[int, pl.DataFrame, pl.DataFrame]  # seq, order lines, shipments


class BackgroundOrderIndex(SqlOrderSource):
    def __init__(self, engine: sa.Engine, retry_seconds: float = 0.5) -> None:
        super().__init__(engine)
        create(engine)  # a resume deletes blocks before command opens its tables
        self.retry_seconds = retry_seconds
        # steps for the index thread, and the same rows as other frame objects for
        # `checkpoint_state` in the writer thread: a frame being written out by one
        # thread and read by another deadlocked (each waited for the frame's lock while
        # the other held the GIL); clones share the data, not the lock
        self._queue: deque[Step] = deque()
        self._saved: deque[Step] = deque()
        with engine.connect() as c:
            self._seq = next_seq(c)  # the next step's
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
            with self.engine.begin() as c:
                write_blocks(c, self._seq, lines, ships)
            self._seq += 1
            return
        with self._cond:
            while len(self._queue) >= MAX_QUEUED and self._error is None and not self._closed:
                self._cond.wait(0.5)
            self._queue.append((self._seq, lines, ships))
            self._saved.append((self._seq, lines.clone(), ships.clone()))
            self._seq += 1
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
        """The first step not yet written and the backlog: every row handed over and
        not yet written (the step being written now included: a resume deletes it)."""
        with self._cond:
            backlog = list(self._saved)
            floor = backlog[0][0] if backlog else self._seq
        frames = (_ipc([b[i] for b in backlog]) for i in (1, 2))
        return pickle.dumps((floor, *frames))

    def restore_state(self, state: bytes, deltas: list[bytes] | None = None) -> None:
        saved = pickle.loads(state)
        floor = saved[0] if len(saved) == 3 else None  # None: a checkpoint of rows by id
        lines, ships = (
            pl.read_ipc(io.BytesIO(b)).select(schema.names()) if b else pl.DataFrame(schema=schema)
            for b, schema in zip(saved[-2:], (LINE_SCHEMA, SHIP_SCHEMA), strict=True)
        )
        if floor is not None:
            with self.engine.begin() as c:  # written after the checkpoint: fed again
                c.execute(sa.delete(order_blocks_t).where(order_blocks_t.c.seq >= floor))
            self._seq = floor
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

    def _write_step(self, seq: int, lines: pl.DataFrame, ships: pl.DataFrame) -> None:
        try:
            if self._conn is None:
                self._conn = self.engine.connect()
            with self._conn.begin():
                write_blocks(self._conn, seq, lines, ships)
        except Exception:
            self._disconnect()  # the retry starts on a new connection
            raise

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
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
                seq, lines, ships = self._queue[0]  # popped only once written
            try:
                self._write_step(seq, lines, ships)
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
    return ipc_bytes(pl.concat(frames)) if frames else b""
