"""The server's `StreamClock` across a restart.

The clock runs on the wall between events, so after an hour of quiet it stands an hour
past the newest event; a restart that began again from the store's event time would
move it back that hour (deadlines later than promised, a timeline out of order). The
timer loop saves (clock, wall) every few seconds; a new process resumes from it, the
downtime included: a deadline that passed while the server was down is passed.
"""

from __future__ import annotations

import sqlalchemy as sa

from warroom.command.clock import Clock, StreamClock
from warroom.command.tables import clock_t, create

NAME = "timers"


def save(engine: sa.Engine, clock: StreamClock) -> None:
    clock_ms, wall_ms = clock.now_ms(), clock.wall.now_ms()
    with engine.begin() as c:
        done = c.execute(
            sa.update(clock_t)
            .where(clock_t.c.name == NAME)
            .values(clock_ms=clock_ms, wall_ms=wall_ms)
        )
        if done.rowcount == 0:
            c.execute(sa.insert(clock_t).values(name=NAME, clock_ms=clock_ms, wall_ms=wall_ms))


def resume(engine: sa.Engine, *, event_ms: int | None, wall: Clock | None = None) -> StreamClock:
    """A clock from the store's event time, or from where the last process left it
    plus the wall time since, whichever is later."""
    create(engine)
    with engine.connect() as c:
        row = c.execute(sa.select(clock_t).where(clock_t.c.name == NAME)).first()
    clock = StreamClock(event_ms or None, wall=wall)
    if row is not None:
        # a wall that stepped back since counts as no time passed, never as time undone
        clock.observe(row.clock_ms + max(0, clock.wall.now_ms() - row.wall_ms))
    return clock
