"""The server's command loops: timers and merchant delivery, each about once a second.

Approval time-outs and broadcast escalations are found by `RunService.tick` and
`BroadcastService.escalate_due` on the command's clock (a `StreamClock` in the server,
so they fire while the stream is quiet too). The merchant outbox is delivered by
`merchants.deliver_due` on the wall clock: an endpoint recovers in real seconds, not in
event time. Two loops, so a slow merchant endpoint cannot hold back a time-out. Each
round runs on a worker thread (blocking database and HTTP calls); a failed round is
logged and the next one tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from warroom.command import clockstate
from warroom.command.actions import merchants
from warroom.command.clock import Clock, StreamClock, SystemClock
from warroom.command.service import Command

log = logging.getLogger("warroom.command")


class CommandLoops:
    def __init__(
        self,
        command: Command,
        *,
        send: merchants.Sender | None,
        wall: Clock | None = None,
        interval_s: float = 1.0,
        on_feed: Callable[[], None] = lambda: None,
        save_every_s: float = 5.0,
    ) -> None:
        self.command, self.send = command, send
        self.wall = wall or SystemClock()
        self.interval_s = interval_s
        self.on_feed = on_feed  # new feed rows (escalations): the hub reads them now
        self.rounds = {"timers": 0, "delivery": 0}
        self.last: dict[str, dict[str, int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.save_every_ms = int(save_every_s * 1000)
        self._saved_wall: int | None = None

    # -- one round each (tests call these directly too) ----------------------------
    def timers_once(self) -> dict[str, int]:
        timed_out = self.command.runs.tick()
        escalated = self.command.broadcast.escalate_due()
        self.save_clock()
        return {"timed_out": len(timed_out), "escalated": len(escalated)}

    def save_clock(self, *, force: bool = False) -> None:
        """Every few seconds: where the timers' clock stands, for the next process."""
        clock = self.command.clock
        if not isinstance(clock, StreamClock):
            return
        wall = clock.wall.now_ms()
        if force or self._saved_wall is None or wall - self._saved_wall >= self.save_every_ms:
            clockstate.save(self.command.engine, clock)
            self._saved_wall = wall

    def deliver_once(self) -> dict[str, int]:
        if self.send is None:
            return {"sent": 0, "retried": 0, "failed": 0}
        return self.command.deliver_notices(
            send=self.send,
            now_ms=self.wall.now_ms(),
            stop=lambda: self._stopping,  # shutdown waits for one notice, not a round
        )

    # -- the loops -----------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._loop("timers", self.timers_once)),
            asyncio.create_task(self._loop("delivery", self.deliver_once)),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            try:
                await asyncio.to_thread(lambda: self.save_clock(force=True))
            except Exception:  # shutting down: the last periodic save stands
                log.exception("saving the timers' clock failed")
        self._tasks = []

    async def _loop(self, name: str, once: Callable[[], dict[str, Any]]) -> None:
        while True:
            try:
                out = await asyncio.to_thread(once)
                self.rounds[name] += 1
                self.last[name] = out
                if out.get("escalated"):
                    self.on_feed()
            except Exception:  # the next round retries; the server must keep serving
                log.exception("command %s round failed", name)
            await asyncio.sleep(self.interval_s)
