"""Command inside `warroom serve`: one object the server builds, starts and stops.

It opens `Command` on the store's engine with the timers' `StreamClock` (resumed from
where the last process left it), attaches it to the runner's steps (index, holds, the
clock; timers stay with the loop), and holds the broadcast feed hub, the merchant
endpoints and sender, and the loops that time out, escalate and deliver. Kept here so
the server's context only wires it in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from warroom.command import clockstate
from warroom.command.clock import StreamClock
from warroom.command.delivery import EndpointBook, HttpSender, endpoints_file
from warroom.command.feedhub import FeedHub
from warroom.command.flows import attach
from warroom.command.order_index import BackgroundOrderIndex
from warroom.command.service import Command
from warroom.command.ticker import CommandLoops


class LiveCommand:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        runner: Any,
        data_dir: Path,
        event_ms: int | None,
        closing: Callable[[], bool],
        clock: StreamClock | None = None,  # tests: one on a FakeClock
    ) -> None:
        self.clock = clock or clockstate.resume(engine, event_ms=event_ms)
        # the writer hands order lines over; each checkpoint saves what is not yet written
        self.index = BackgroundOrderIndex(engine)
        runner.join("order_index", self.index)
        self.command = Command.open(engine=engine, clock=self.clock, orders=self.index)
        attach(runner, self.command, timers=False)
        self.feed = FeedHub(self.command.broadcast, closing=closing)
        self.endpoints = EndpointBook(endpoints_file(data_dir))
        self.sender = HttpSender(self.endpoints)
        self.loops = CommandLoops(
            self.command, send=self.sender, wall=self.clock.wall, on_feed=self.feed.poke
        )

    async def start(self) -> None:
        await self.feed.start()
        await self.loops.start()

    async def stop(self) -> None:
        await self.loops.stop()
        self.sender.close()
        await self.feed.stop()
