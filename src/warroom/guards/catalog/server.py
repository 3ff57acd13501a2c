"""The catalog guard inside `warroom serve`: fed by the runner's steps (on the writer
thread), its alerts handed to the server's alert book, a summary for the wall's frames.

The findings are read back from the store for the wall, never from the guard's live
objects: the writer thread changes those while the event loop builds a frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from warroom.alerts.model import Alert
from warroom.guards.catalog.attach import attach, save
from warroom.guards.catalog.guard import CatalogGuard
from warroom.guards.catalog.store import CatalogStore

API = "/api/v1/catalog"


class ServerCatalog:
    def __init__(self, runner: Any, catalog: Path, feed: Callable[[], Any]) -> None:
        """`feed` returns the server's alert feed (looked up late: the book may be set
        after the guard); catalog alerts go to its `ingest` when it has one."""
        self.runner = runner
        self._feed = feed
        # kept for a feed without `ingest` (an API built without the watch): the frame
        # carries them itself then
        self.recent: deque[dict[str, Any]] = deque(maxlen=20)
        # checkpointed with the engine: a restarted server's guard goes on from there
        self.guard: CatalogGuard = attach(runner, catalog, on_alert=self._alert, checkpointed=True)
        self.store = CatalogStore(runner.store.engine)
        self.digits = int(runner.rates.base_digits)

    def _alert(self, alert: Alert) -> None:
        self.recent.appendleft(alert.record())
        ingest = getattr(self._feed(), "ingest", None)
        if ingest is not None:
            ingest(alert)

    def stop(self) -> None:
        """After the writer thread stopped: save what changed since the last save."""
        save(self.runner, self.guard)

    def frame(self) -> dict[str, Any]:
        """The wall's Catalog indicator: the open findings with their blast radius."""
        counts = self.store.order_counts()
        rows = self.store.findings(state="firing")
        out = []
        for r in rows:
            ent = r["alert"]["entities"]
            shipped, waiting = counts.get(r["id"], (0, 0))
            out.append(
                {
                    "id": r["id"],
                    "kind": r["kind"],
                    "actor": r["actor"],
                    "severity": r["severity"],
                    "mass": r["mass"],
                    "merchants": ent["merchants"],
                    "skus": len(ent["skus"]),
                    "orders_shipped": shipped,
                    "orders_not_shipped": waiting,
                    "gmv_at_risk": _money(r["gmv_at_risk"], self.digits),
                    "gmv_unshipped": _money(r["gmv_unshipped"], self.digits),
                    "json": f"{API}/findings/{r['id']}",
                    "csv": f"{API}/findings/{r['id']}/blast.csv",
                }
            )
        has_ingest = hasattr(self._feed(), "ingest")
        return {"findings": out, "alerts": [] if has_ingest else list(self.recent)}


def _money(minor: int, digits: int) -> str:
    return str(Decimal(minor).scaleb(-digits))
