"""The notification log: what was sent, so that a restart re-sends nothing.

A batch is identified by its receiver, integration, group and the exact set of
(alert id, state) it carried; once sent it is written here, and the sender skips
any batch already in the log (Alertmanager's nflog, persisted in the store)."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from warroom.alerts.dispatch import Batch

metadata = sa.MetaData()
nflog = sa.Table(
    "watch_nflog",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("receiver", sa.String, nullable=False),
    sa.Column("integration", sa.String, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),  # event time of the batch
)


def batch_key(batch: Batch, integration: str) -> str:
    content = sorted((a.id, a.state) for a in batch.alerts)
    raw = json.dumps([batch.receiver, integration, batch.group_key, content, batch.ts])
    return hashlib.sha256(raw.encode()).hexdigest()


class NotificationLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def sent(self, key: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(sa.select(nflog.c.key).where(nflog.c.key == key)).first() is not None

    def record(self, key: str, batch: Batch, integration: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                nflog.insert().values(
                    key=key, receiver=batch.receiver, integration=integration, ts=batch.ts
                )
            )
