"""The alert book: lifecycle, dedup, silences, inhibition, acknowledgement and owner,
with persisted history. Functions take keyword-only arguments and know nothing of
HTTP, so the API's router (and the big screen's ticker) only translate to them.

Time is event time: `now` is the latest second the watch has seen (`tick`), and
every action is stamped with it, so a replay gives the same history.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from warroom.alerts.dispatch import Batch, Dispatcher, Route
from warroom.alerts.errors import InvalidInput, NotFound
from warroom.alerts.matchers import Matcher
from warroom.alerts.model import Alert
from warroom.alerts.mute import Inhibitor, InhibitRule, Muters, Recurrence, Silence
from warroom.alerts.store import AlertStore

WATCH = "watch"  # the actor of the watch's own actions


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The watch (the run's thread) and the API (its thread pool) share one book."""

    @functools.wraps(fn)
    def wrapper(self: AlertBook, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(self, *args, **kwargs)

    return wrapper


class AlertBook:
    """Implements the API's `AlertFeed` (recent, acknowledge) and the rest of the
    lifecycle. `on_batch` receives every notification due (notify/ sends it)."""

    def __init__(
        self,
        engine: sa.Engine,
        routes: list[Route] | None = None,
        inhibit_rules: list[InhibitRule] | None = None,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.store = AlertStore(engine)
        self.inhibitor = Inhibitor(inhibit_rules or [])
        self.silences: dict[str, Silence] = {}
        self.muter = Muters([self.inhibitor, _SilenceSet(self)])
        self.dispatcher = Dispatcher(routes or [Route("default")], self.muter)
        self.on_batch = on_batch
        self.now = 0
        self.rows: dict[str, dict[str, Any]] = {r["id"]: r for r in self.store.load_alerts()}
        for row in self.rows.values():
            alert = _alert(row)
            self.now = max(self.now, alert.ts)
            self.inhibitor.update(alert)
        for sid, spec, deleted in self.store.load_silences():
            if not deleted:
                self.silences[sid] = _silence(sid, spec)

    # -- from the watch ---------------------------------------------------------------
    @_locked
    def ingest(self, alert: Alert) -> bool:
        """Record a firing or resolved alert; False when it is a duplicate delivery."""
        row = self.rows.get(alert.id)
        if row is not None and row["state"] == alert.state:
            return False  # dedup: the same state again changes nothing
        if row is None and alert.state == "resolved":
            return False  # nothing to resolve
        self.now = max(self.now, alert.ts)
        new = {
            "id": alert.id,
            "state": alert.state,
            "first_ts": row["first_ts"] if row else alert.ts,
            "ts": alert.ts,
            "record": json.dumps(alert.record()),
            "acked_by": row["acked_by"] if row else None,
            "acked_ts": row["acked_ts"] if row else None,
            "owner": row["owner"] if row else None,
        }
        self.rows[alert.id] = new
        self.store.save_alert(new)
        self.store.add_history(alert.id, alert.ts, WATCH, alert.state, {"summary": alert.summary})
        self.inhibitor.update(alert)
        self.dispatcher.add(alert)
        return True

    @_locked
    def tick(self, now: int) -> list[Batch]:
        """Event time moved to `now`: send what grouping says is due."""
        self.now = max(self.now, now)
        batches = self.dispatcher.flush(self.now)
        for b in batches:
            if self.on_batch is not None:
                self.on_batch(b)
        return batches

    # -- the service (API and ticker) ---------------------------------------------------
    @_locked
    def list_alerts(
        self,
        *,
        state: str | None = None,
        limit: int = 100,
        include_muted: bool = True,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first: the OUTPUTS.md record plus first_ts, acked_by, owner, muted."""
        if state not in (None, "firing", "resolved"):
            raise InvalidInput("state", "must be firing or resolved")
        rows = sorted(self.rows.values(), key=lambda r: (r["ts"], r["id"]), reverse=True)
        out = []
        for r in rows:
            if state is not None and r["state"] != state:
                continue
            if source is not None and json.loads(r["record"]).get("source") != source:
                continue
            view = self._view(r)
            if include_muted or not view["muted"]:
                out.append(view)
            if len(out) >= limit:
                break
        return out

    def recent(self, *, limit: int, state: str | None = None) -> list[dict[str, Any]]:
        """The wall's ticker: a silenced (or inhibited) alert leaves the big screen too."""
        return self.list_alerts(state=state, limit=limit, include_muted=False)

    @_locked
    def get(self, *, alert_id: str) -> dict[str, Any]:
        """One alert's view; NotFound if there is none."""
        row = self.rows.get(alert_id)
        if row is None:
            raise NotFound(f"alert_id: no alert {alert_id!r}")
        return self._view(row)

    @_locked
    def groups(self) -> list[dict[str, Any]]:
        """The dispatcher's groups: what is waiting to be (re-)notified, and when it last was."""
        return [
            {
                "key": key,
                "receiver": g.route.receiver,
                "labels": dict(g.labels),
                "alerts": sorted(g.alerts),
                "created": g.created,
                "last_sent": g.last_sent,
            }
            for key, g in sorted(self.dispatcher.groups.items())
        ]

    @_locked
    def acknowledge(self, *, alert_id: str, actor: str) -> bool:
        row = self.rows.get(alert_id)
        if row is None:
            return False
        row["acked_by"], row["acked_ts"] = actor, self.now
        self.store.save_alert(row)
        self.store.add_history(alert_id, self.now, actor, "acknowledge", {})
        return True

    @_locked
    def set_owner(self, *, alert_id: str, owner: str, actor: str) -> dict[str, Any]:
        row = self.rows.get(alert_id)
        if row is None:
            raise NotFound(f"alert_id: no alert {alert_id!r}")
        row["owner"] = owner or None
        self.store.save_alert(row)
        self.store.add_history(alert_id, self.now, actor, "set_owner", {"owner": owner})
        return self._view(row)

    @_locked
    def create_silence(
        self,
        *,
        matchers: list[str],
        starts: int,
        ends: int,
        created_by: str,
        comment: str = "",
        recurrence: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        spec = {
            "matchers": matchers,
            "starts": starts,
            "ends": ends,
            "created_by": created_by,
            "comment": comment,
            "recurrence": recurrence,
        }
        sid = "s-" + hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        silence = _silence(sid, spec)  # validates
        self.silences[sid] = silence
        self.store.save_silence(sid, spec)
        self.store.add_history("", self.now, created_by, "create_silence", {"id": sid, **spec})
        return {"id": sid, **spec}

    @_locked
    def delete_silence(self, *, silence_id: str, actor: str) -> None:
        silence = self.silences.pop(silence_id, None)
        if silence is None:
            raise NotFound(f"silence_id: no silence {silence_id!r}")
        spec = _spec(silence)
        self.store.save_silence(silence_id, spec, deleted=True)
        self.store.add_history("", self.now, actor, "delete_silence", {"id": silence_id})

    @_locked
    def list_silences(self) -> list[dict[str, Any]]:
        return [{"id": s.id, **_spec(s)} for s in self.silences.values()]

    @_locked
    def history(self, *, alert_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.store.load_history(alert_id, limit)

    @_locked
    def ticker(self, *, limit: int = 20) -> list[str]:
        """One line per firing, unmuted alert, newest first: the big screen's ticker."""
        lines = []
        for v in self.list_alerts(state="firing", limit=limit, include_muted=False):
            mark = f" [ack {v['acked_by']}]" if v["acked_by"] else ""
            owner = f" [owner {v['owner']}]" if v["owner"] else ""
            lines.append(f"{v['severity'].upper()} {v['summary']}{mark}{owner}")
        return lines

    def _view(self, row: dict[str, Any]) -> dict[str, Any]:
        alert = _alert(row)
        muted = alert.state == "firing" and self.muter.mutes(alert.labels, self.now)
        return {
            **alert.record(),
            "first_ts": row["first_ts"],
            "acked_by": row["acked_by"],
            "acked_ts": row["acked_ts"],
            "owner": row["owner"],
            "muted": muted,
        }


class _SilenceSet:
    def __init__(self, book: AlertBook) -> None:
        self.book = book

    def mutes(self, labels: dict[str, str], ts: int) -> bool:
        return any(s.mutes(labels, ts) for s in self.book.silences.values())


def _alert(row: dict[str, Any]) -> Alert:
    rec = json.loads(row["record"])
    rec.setdefault("entities", {})
    return Alert(**rec)


def _silence(sid: str, spec: dict[str, Any]) -> Silence:
    try:
        rec = spec.get("recurrence")
        return Silence(
            id=sid,
            matchers=[Matcher.parse(m) for m in spec["matchers"]],
            starts=int(spec["starts"]),
            ends=int(spec["ends"]),
            created_by=str(spec["created_by"]),
            comment=str(spec.get("comment", "")),
            recurrence=Recurrence(**{k: tuple(v) if k == "weekdays" else v for k, v in rec.items()})
            if rec
            else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("silence", f"malformed: {exc}") from exc


def _spec(s: Silence) -> dict[str, Any]:
    return {
        "matchers": [m.text() for m in s.matchers],
        "starts": s.starts,
        "ends": s.ends,
        "created_by": s.created_by,
        "comment": s.comment,
        "recurrence": asdict(s.recurrence) if s.recurrence else None,
    }
