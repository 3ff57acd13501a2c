"""The refund guard on a thread of its own, beside the engine's writer.

The guard is Python: under an all-order load at 1 M/s offered it took 40 % of the
server's one writer thread (py-spy, session 16), while the engine's native step and
polars run without the GIL. Here the writer hands each step's records over and goes
on; this thread decides the refunds in the same order and delivers the decisions.

A checkpoint takes the guard's state only once the thread has caught up with every
step handed over before it (`caught_up`), so the state it saves is the state after
the records it counts, as when the writer ran the guard itself. A step that fails in
the guard (a bug) is logged, and the next checkpoint fails with its error once, as
the step itself did when it ran in the writer.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import polars as pl

from warroom.guards.refunds.decider import Decision, RefundGuard

log = logging.getLogger("warroom.refunds")
MAX_QUEUED = 16  # steps handed over and not yet decided: past it, `hand_over` waits


class GuardThread:
    def __init__(self, guard: RefundGuard, deliver: Callable[[list[Decision]], None]) -> None:
        self.guard, self.deliver = guard, deliver
        self._queue: deque[pl.DataFrame] = deque()
        self._handed = self._done = 0  # steps
        self._error: BaseException | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="warroom-refunds", daemon=True)
        self._thread.start()

    def hand_over(self, records: pl.DataFrame | None) -> None:
        if records is None or records.height == 0:
            return
        # a frame of its own: a frame read by two threads at once can deadlock polars
        # (command/order_index.py); a clone shares the data, not the lock
        step = records.clone()
        with self._cond:
            while len(self._queue) >= MAX_QUEUED and not self._closed:
                self._cond.wait(0.5)
            self._queue.append(step)
            self._handed += 1
            self._cond.notify_all()

    def caught_up(self) -> None:
        """Return once every step handed over before this call is decided and its
        decisions delivered; raise (once) the error of a step that failed."""
        with self._cond:
            target = self._handed
            while self._done < target and self._thread.is_alive():
                self._cond.wait(1.0)
            error, self._error = self._error, None
        if error is not None:
            raise RuntimeError(f"the refund guard failed on a step: {error}") from error

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                step = self._queue[0]  # popped once decided: `caught_up` counts on it
            try:
                decisions = self.guard.process(step)
                if decisions:
                    self.deliver(decisions)
            except Exception as exc:  # a bug must not stop the guard for the day
                log.exception("the refund guard failed on a step")
                with self._cond:
                    self._error = self._error or exc
            with self._cond:
                self._queue.popleft()
                self._done += 1
                self._cond.notify_all()
