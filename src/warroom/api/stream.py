"""Server-Sent Events: one frame per tick, serialised once and sent to every client.

Frame ids are `<boot>.<seq>`. A client that reconnects with `Last-Event-ID` of this
process gets the frames it missed (frames are upserts, so a replay is idempotent); one
from another boot, or too old for the ring, gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger("warroom.stream")


class Broadcaster:
    def __init__(
        self, build: Callable[[str], dict[str, Any]], tick_seconds: float, keep: int
    ) -> None:
        self.build = build  # kind ("tick" or "snapshot") -> frame
        self.tick_seconds = tick_seconds
        self.boot = format(int(time.time() * 1000), "x")
        self.seq = 0
        self.frames: deque[tuple[int, str]] = deque(maxlen=keep)
        self.clients = 0
        self.closed = False
        self.closing = False  # set on shutdown: streams end cleanly at the next tick
        self._cond: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._cond = asyncio.Condition()
        self._task = asyncio.create_task(self._ticks())

    async def stop(self) -> None:
        self.closed = True
        if self._cond is not None:
            async with self._cond:
                self._cond.notify_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _ticks(self) -> None:
        assert self._cond is not None
        next_at = time.monotonic()
        while not self.closed:
            next_at += self.tick_seconds
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            try:
                frame = self.build("tick")
            except Exception:  # a bad frame must not end the stream
                log.exception("building a frame failed")
                continue
            data = json.dumps(frame, separators=(",", ":"))
            async with self._cond:
                self.seq += 1
                self.frames.append((self.seq, data))
                self._cond.notify_all()

    def _event(self, seq: int, kind: str, data: str) -> str:
        return f"id: {self.boot}.{seq}\nevent: {kind}\ndata: {data}\n\n"

    def _replay(self, last_event_id: str | None) -> list[tuple[int, str]] | None:
        if not last_event_id or "." not in last_event_id:
            return None
        boot, _, seq_text = last_event_id.partition(".")
        if boot != self.boot or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self.seq or (self.frames and seq < self.frames[0][0] - 1):
            return None
        return [f for f in self.frames if f[0] > seq]

    async def events(self, last_event_id: str | None) -> AsyncIterator[str]:
        assert self._cond is not None
        self.clients += 1
        try:
            yield f"retry: {int(self.tick_seconds * 1000)}\n\n"
            mine = self.seq
            missed = self._replay(last_event_id)
            if missed is None:
                frame = json.dumps(self.build("snapshot"), separators=(",", ":"))
                yield self._event(mine, "snapshot", frame)
            else:
                for seq, data in missed:
                    yield self._event(seq, "tick", data)
            while not self.closed:
                async with self._cond:
                    await self._cond.wait_for(lambda m=mine: self.seq > m or self.closed)
                if self.closed or self.closing:
                    return
                for seq, data in list(self.frames):
                    if seq > mine:
                        yield self._event(seq, "tick", data)
                mine = self.seq
        finally:
            self.clients -= 1
