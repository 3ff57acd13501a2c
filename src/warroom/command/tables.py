"""The command domain's tables, on their own MetaData, created on the store's engine.

Every table is prefixed `cmd_` so it cannot collide with the store's or another
domain's tables in the same database.
"""

from __future__ import annotations

import sqlalchemy as sa

from warroom.store.db import ORDERS_SCHEMA

metadata = sa.MetaData()
C, T, Int, B = sa.Column, sa.Text, sa.Integer, sa.BigInteger
# The order index lives in a database of its own (SQLite: `orders.db` beside the store,
# attached to each connection by `Store`): the server's index thread writes it while
# the writer commits checkpoints to the main one, and SQLite locks a database file,
# not a table. Sharing one file, each waited on the other's transactions in the busy
# handler's sleeps: a checkpoint's 2 ms insert took 82 ms.

# -- what scopes resolve against (fed from StepResult.records) ------------------
# One row per step and kind (0 = order lines, 3 = shipments): the step's rows as one
# Arrow IPC blob (command/orders.py says why not a row each). `seq` numbers the steps
# in the order they were fed; a resume deletes those past its checkpoint.
order_blocks_t = sa.Table(
    "cmd_order_blocks",
    metadata,
    C("seq", Int, primary_key=True, autoincrement=False),
    C("kind", sa.SmallInteger, primary_key=True, autoincrement=False),
    C("rows", Int, nullable=False),
    C("data", sa.LargeBinary, nullable=False),  # last: a scan reads `kind` before it
    schema=ORDERS_SCHEMA,
)
# the layout before blocks: a row per order line and per shipment
ROW_TABLES = ("cmd_order_lines", "cmd_shipments")

# -- actions ---------------------------------------------------------------------
holds_t = sa.Table(
    "cmd_held_orders",
    metadata,
    C("seq", Int, primary_key=True, autoincrement=True),
    C("order_id", T, nullable=False, index=True),
    C("ref", T, nullable=False, index=True),  # run:<id>/step:<n> that placed the hold
    C("held_ms", B, nullable=False),
    C("released_ms", B),  # null while the hold is on
)
violations_t = sa.Table(
    "cmd_hold_violations",
    metadata,
    C("seq", Int, primary_key=True, autoincrement=True),
    C("order_id", T, nullable=False),
    C("ref", T, nullable=False),
    C("shipment_ts", B, nullable=False),
    C("record_id", T, unique=True),  # one violation per shipment event, however often fed
)
campaigns_t = sa.Table(
    "cmd_campaigns",
    metadata,
    C("campaign", T, primary_key=True),
    C("state", T, nullable=False),  # active | paused
    C("changed_ms", B, nullable=False),
    C("ref", T, nullable=False),
)
switches_t = sa.Table(
    "cmd_switches",
    metadata,
    C("name", T, primary_key=True),
    C("value", T, nullable=False),
    C("changed_ms", B, nullable=False),
    C("ref", T, nullable=False),
)
outbox_t = sa.Table(
    "cmd_merchant_outbox",
    metadata,
    C("id", Int, primary_key=True, autoincrement=True),
    C("ref", T, nullable=False, index=True),
    C("merchant_id", T, nullable=False),
    C("message", T, nullable=False),
    C("state", T, nullable=False),  # pending | sent | failed | acked | cancelled
    C("attempts", Int, nullable=False, default=0),
    C("next_attempt_ms", B, nullable=False),
    C("last_error", T, nullable=False, default=""),
    C("acked_by", T),
    C("acked_ms", B),
)

# -- runs ------------------------------------------------------------------------
runs_t = sa.Table(
    "cmd_plan_runs",
    metadata,
    C("id", Int, primary_key=True, autoincrement=True),
    C("plan", T, nullable=False),
    C("plan_doc", T, nullable=False),  # the plan as run (JSON): later edits do not move it
    C("params", T, nullable=False),  # JSON
    C("incident_id", Int, index=True),
    C("requested_by", T, nullable=False),
    C("state", T, nullable=False),
    C("created_ms", B, nullable=False),
    C("updated_ms", B, nullable=False),
)
run_steps_t = sa.Table(
    "cmd_run_steps",
    metadata,
    C("run_id", Int, primary_key=True),
    C("idx", Int, primary_key=True),
    C("step_id", T, nullable=False),
    C("action", T, nullable=False),
    C("state", T, nullable=False),
    C("deadline_ms", B),
    C("decided_by", T),
    C("started_ms", B),
    C("finished_ms", B),
    C("result", T, nullable=False, default="{}"),  # JSON: what apply touched + undo data
    C("error", T, nullable=False, default=""),
)

# -- incidents -------------------------------------------------------------------
incidents_t = sa.Table(
    "cmd_incidents",
    metadata,
    C("id", Int, primary_key=True, autoincrement=True),
    C("title", T, nullable=False),
    C("severity", T, nullable=False),
    C("status", T, nullable=False),  # active | mitigated | resolved
    C("commander", T, nullable=False),
    C("source", T, nullable=False),  # manual | alert:<id> | plan:<name>
    C("created_ms", B, nullable=False),
    C("resolved_ms", B),
)
incident_roles_t = sa.Table(
    "cmd_incident_roles",
    metadata,
    C("incident_id", Int, primary_key=True),
    C("role", T, primary_key=True),  # e.g. commander, scribe, comms, payments-lead
    C("person", T, nullable=False),
)
timeline_t = sa.Table(
    "cmd_timeline",
    metadata,
    C("seq", Int, primary_key=True, autoincrement=True),
    C("incident_id", Int, nullable=False, index=True),
    C("ts_ms", B, nullable=False),
    C("kind", T, nullable=False),  # alert | decision | step | message | ack | status | note
    C("actor", T, nullable=False),
    C("text", T, nullable=False),
    C("data", T, nullable=False, default="{}"),
)

# -- the broadcast channel -------------------------------------------------------
roster_t = sa.Table(
    "cmd_roster",
    metadata,
    C("person", T, primary_key=True),
    C("role", T, nullable=False),
    C("next_person", T),  # who is escalated to when this person does not acknowledge
)
messages_t = sa.Table(
    "cmd_messages",
    metadata,
    C("id", Int, primary_key=True, autoincrement=True),
    C("text", T, nullable=False),
    C("audience", T, nullable=False),  # JSON list of roles, or ["*"]
    C("sender", T, nullable=False),
    C("incident_id", Int),
    C("created_ms", B, nullable=False),
    C("ack_within_ms", B, nullable=False),
    sqlite_autoincrement=True,  # ids never reused: they are what clients acknowledge
)
deliveries_t = sa.Table(
    "cmd_deliveries",
    metadata,
    C("message_id", Int, primary_key=True),
    C("person", T, primary_key=True),
    C("via", T, nullable=False, default=""),  # "" or the person escalated from
    C("sends", Int, nullable=False, default=1),
    C("deadline_ms", B, nullable=False),
    C("escalated", sa.Boolean, nullable=False, default=False),
    C("acked_ms", B),
)
# The SSE feed: event ids only grow (autoincrement), so Last-Event-ID replay is a range.
feed_t = sa.Table(
    "cmd_feed",
    metadata,
    C("event_id", Int, primary_key=True, autoincrement=True),
    C("message_id", Int, nullable=False),
    C("target", T, nullable=False),  # "*", "role:<r>" or "person:<p>"
    C("kind", T, nullable=False),  # message | resend | escalation | ack
    C("person", T),  # who acknowledged (kind ack)
    sqlite_autoincrement=True,
)

# -- the server's timer clock across restarts (clockstate.py) --------------------
clock_t = sa.Table(
    "cmd_clock",
    metadata,
    C("name", T, primary_key=True),
    C("clock_ms", B, nullable=False),  # what the timers' clock said ...
    C("wall_ms", B, nullable=False),  # ... at this wall time
)


def create(engine: sa.Engine) -> None:
    metadata.create_all(engine)
    from warroom.command.orders import convert_row_index  # it imports this module

    convert_row_index(engine)
