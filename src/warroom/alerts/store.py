"""Persisted alerts, their history and silences: the watch's own tables, created on
the store's engine (`Store.engine`) with their own MetaData."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

alerts = sa.Table(
    "watch_alerts",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("first_ts", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # the latest OUTPUTS.md record
    sa.Column("acked_by", sa.String),
    sa.Column("acked_ts", sa.BigInteger),
    sa.Column("owner", sa.String),
)
history = sa.Table(
    "watch_alert_history",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String, index=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
silences = sa.Table(
    "watch_silences",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
)


class AlertStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def save_alert(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as c:
            done = c.execute(alerts.update().where(alerts.c.id == row["id"]).values(**row))
            if done.rowcount == 0:
                c.execute(alerts.insert().values(**row))

    def add_history(self, alert_id: str, ts: int, actor: str, action: str, detail: dict) -> None:
        with self.engine.begin() as c:
            c.execute(
                history.insert().values(
                    alert_id=alert_id,
                    ts=ts,
                    actor=actor,
                    action=action,
                    detail=json.dumps(detail, sort_keys=True),
                )
            )

    def load_alerts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(alerts.select().order_by(alerts.c.ts))]

    def load_history(self, alert_id: str | None, limit: int) -> list[dict[str, Any]]:
        q = history.select().order_by(history.c.seq.desc()).limit(limit)
        if alert_id is not None:
            q = q.where(history.c.alert_id == alert_id)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q)]
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows

    def save_silence(self, sid: str, spec: dict[str, Any], deleted: bool = False) -> None:
        with self.engine.begin() as c:
            c.execute(silences.delete().where(silences.c.id == sid))
            c.execute(silences.insert().values(id=sid, spec=json.dumps(spec), deleted=deleted))

    def load_silences(self) -> list[tuple[str, dict[str, Any], bool]]:
        with self.engine.connect() as c:
            return [(r.id, json.loads(r.spec), r.deleted) for r in c.execute(silences.select())]
