"""The broadcast feed for one server process: one reader of `cmd_feed`, many SSE clients.

Each client would otherwise query the feed on every event; with hundreds of walls
that is hundreds of queries per message. The hub reads new feed rows once (polled,
and poked right after the API writes one) and keeps them in memory with their
message; each client filters them with the pure `select_pending`. A client returning
with a `Last-Event-ID` older than what the hub keeps is replayed from the database by
`BroadcastService.pending_for`. Events are re-sent to a client only after its
`Last-Event-ID`, so each client gets each event once, across reconnects too.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool

from warroom.command.broadcast import BroadcastService, FeedEvent, select_pending
from warroom.command.tables import feed_t, messages_t

log = logging.getLogger("warroom.feed")


class FeedHub:
    def __init__(
        self,
        broadcast: BroadcastService,
        *,
        poll_seconds: float = 0.25,
        keep: int = 20_000,
        closing: Callable[[], bool] = lambda: False,
    ) -> None:
        self.broadcast = broadcast
        # the server is shutting down: end every stream now, not when uvicorn cuts it
        self.closing = closing
        self.poll_seconds = poll_seconds  # escalations and CLI acks come from other threads
        self.keep = keep
        self.events: list[tuple[FeedEvent, str]] = []  # (event, its SSE data), id order
        self.ids: list[int] = []  # their ids, for bisect
        self.last = 0  # newest event id read
        self.first_kept = 1  # the oldest id still in memory
        self.clients = 0
        self.closed = False
        # Set and replaced whenever something new arrives: waiters hold the old one. No
        # lock: a Condition inside wait_for can be left held when a client is cancelled.
        self._changed: asyncio.Event | None = None
        self._poke: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._changed, self._poke = asyncio.Event(), asyncio.Event()
        # start at the end: older events are replayed from the database on demand
        self.last = await run_in_threadpool(self._max_id)
        self.first_kept = self.last + 1
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self.closed = True
        self._wake()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        """Something was written to the feed: read it now, not at the next poll."""
        if self._poke is not None:
            self._poke.set()

    def _wake(self) -> None:
        if self._changed is not None:
            old, self._changed = self._changed, asyncio.Event()
            old.set()

    async def refresh(self) -> None:
        rows = await run_in_threadpool(self._read_after, self.last)
        added = False
        for event, data in rows:  # no await in here: clients see all of a batch or none
            if event.event_id > self.last:
                self.events.append((event, data))
                self.ids.append(event.event_id)
                self.last, added = event.event_id, True
        if len(self.events) > self.keep:
            del self.events[: len(self.events) - self.keep]
            del self.ids[: len(self.ids) - self.keep]
            self.first_kept = self.ids[0]
        if added:
            self._wake()

    async def _loop(self) -> None:
        assert self._poke is not None
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.poll_seconds)
            self._poke.clear()
            try:
                await self.refresh()
            except Exception:  # a failed read must not end the feed; the next poll retries
                log.exception("reading the broadcast feed failed")
            if self.closing():
                self._wake()  # each stream sees closing() and ends cleanly

    # -- the database -----------------------------------------------------------------
    def _max_id(self) -> int:
        with self.broadcast.engine.connect() as c:
            return int(c.execute(sa.select(sa.func.max(feed_t.c.event_id))).scalar() or 0)

    def _read_after(self, after: int) -> list[tuple[FeedEvent, str]]:
        q = (
            sa.select(feed_t, messages_t)
            .join(messages_t, messages_t.c.id == feed_t.c.message_id)
            .where(feed_t.c.event_id > after)
            .order_by(feed_t.c.event_id)
        )
        with self.broadcast.engine.connect() as c:
            rows = c.execute(q).all()
        return [(_event(r), _data(r)) for r in rows]

    def _replay(
        self, person: str | None, roles: Sequence[str], after: int, upto: int
    ) -> list[tuple[FeedEvent, str]]:
        """From the database: the events after `after` (up to the hub's start) for a client."""
        wanted = {
            e.event_id
            for e in self.broadcast.pending_for(person=person, roles=roles, last_event_id=after)
            if e.event_id <= upto
        }
        return [(e, d) for e, d in self._read_after(after) if e.event_id in wanted]

    # -- one client ---------------------------------------------------------------------
    async def stream(
        self,
        *,
        person: str | None,
        roles: Sequence[str],
        last_event_id: int,
        stop: Callable[[], bool] = lambda: False,
        heartbeat_seconds: float = 15.0,
    ) -> AsyncIterator[str]:
        """SSE text for one client: what it missed after `last_event_id`, then live."""
        self.clients += 1
        try:
            yield "retry: 1000\n\n"
            await self.refresh()  # whatever was written just before this client came
            scanned = last_event_id
            if scanned + 1 < self.first_kept:  # older than memory: ask the database
                upto = self.first_kept - 1
                for event, data in await run_in_threadpool(
                    self._replay, person, roles, scanned, upto
                ):
                    yield _sse(event, data)
                scanned = max(scanned, upto)
            while True:
                changed = self._changed  # before reading: nothing new can slip between
                assert changed is not None
                mine = self.events[bisect.bisect_right(self.ids, scanned) :]
                wanted = {
                    e.event_id
                    for e in select_pending(
                        [e for e, _ in mine], person=person, roles=roles, last_event_id=scanned
                    )
                }
                for event, data in mine:
                    if event.event_id in wanted:
                        yield _sse(event, data)
                scanned = max(scanned, mine[-1][0].event_id if mine else scanned)
                if self.closed or stop() or self.closing():
                    return
                if scanned < self.last:
                    continue  # more arrived while we were sending
                try:
                    await asyncio.wait_for(changed.wait(), heartbeat_seconds)
                except TimeoutError:
                    yield ": keep-alive\n\n"  # writing finds clients that went away
        finally:
            self.clients -= 1


def _event(r: Any) -> FeedEvent:
    return FeedEvent(r.event_id, r.message_id, r.target, r.kind, r.person)


def _data(r: Any) -> str:
    return json.dumps(
        {
            "event_id": r.event_id,
            "kind": r.kind,
            "message_id": r.message_id,
            "person": r.person,
            "target": r.target,
            "text": r.text,
            "sender": r.sender,
            "audience": json.loads(r.audience),
            "incident_id": r.incident_id,
            "created_ms": r.created_ms,
            "ack_within_ms": r.ack_within_ms,
        },
        separators=(",", ":"),
    )


def _sse(event: FeedEvent, data: str) -> str:
    return f"id: {event.event_id}\nevent: {event.kind}\ndata: {data}\n\n"
