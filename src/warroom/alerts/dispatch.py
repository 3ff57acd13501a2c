"""Grouping and timing, in Alertmanager's words (dispatch/route.go), in event time.

Alerts go to the first route whose matchers they satisfy, into the group given by
the values of `group_by`. A new group waits `group_wait` (so the alerts of one
incident leave together), then is sent again after `group_interval` when it
changed, and after `repeat_interval` when it did not and still fires. Resolved
alerts leave the group once they have been sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from warroom.alerts.errors import InvalidInput
from warroom.alerts.matchers import Matcher, match_all
from warroom.alerts.model import Alert
from warroom.alerts.mute import Muter


@dataclass(frozen=True)
class Route:
    receiver: str
    group_by: tuple[str, ...] = ("alertname",)
    group_wait_ms: int = 5_000
    group_interval_ms: int = 60_000
    repeat_interval_ms: int = 4 * 3_600_000
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        for name in ("group_wait_ms", "group_interval_ms", "repeat_interval_ms"):
            if getattr(self, name) < 0:
                raise InvalidInput(name, "must be >= 0")
        if self.group_interval_ms == 0 or self.repeat_interval_ms == 0:
            raise InvalidInput("group_interval_ms", "intervals must be > 0")


@dataclass
class Batch:
    """One notification: a group's alerts at one moment."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Alert]
    ts: int

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.state == "firing"]


@dataclass
class _Group:
    route: Route
    labels: dict[str, str]
    created: int
    alerts: dict[str, Alert] = field(default_factory=dict)
    last_sent: int | None = None
    sent_state: dict[str, str] = field(default_factory=dict)  # id -> state last sent
    changed: bool = True


class Dispatcher:
    def __init__(self, routes: list[Route], muter: Muter | None = None) -> None:
        if not routes:
            raise InvalidInput("routes", "at least one route (the default) is needed")
        self.routes, self.muter = routes, muter
        self.groups: dict[str, _Group] = {}

    def add(self, alert: Alert) -> None:
        labels = alert.labels
        route = next((r for r in self.routes if match_all(list(r.matchers), labels)), None)
        if route is None:
            return
        glabels = {k: labels.get(k, "") for k in route.group_by}
        key = route.receiver + ":" + json.dumps(glabels, sort_keys=True)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(route, glabels, alert.ts)
        group.alerts[alert.id] = alert
        group.changed = True

    def flush(self, now: int) -> list[Batch]:
        """Every notification due at event time `now`, in group order."""
        out = []
        for key in sorted(self.groups):
            g = self.groups[key]
            r = g.route
            if g.last_sent is None:
                due = now >= g.created + r.group_wait_ms
            elif g.changed and self._news(g):
                due = now >= g.last_sent + r.group_interval_ms
            else:
                firing = any(a.state == "firing" for a in g.alerts.values())
                due = firing and now >= g.last_sent + r.repeat_interval_ms
            if not due:
                continue
            alerts = [a for a in g.alerts.values() if not self._muted(a, now)]
            g.last_sent, g.changed = now, False
            if alerts:
                out.append(Batch(r.receiver, key, dict(g.labels), alerts, now))
                g.sent_state.update({a.id: a.state for a in alerts})
            for a in list(g.alerts.values()):
                if a.state == "resolved":
                    del g.alerts[a.id]
            if not g.alerts:
                del self.groups[key]
        return out

    def _news(self, g: _Group) -> bool:
        return any(g.sent_state.get(a.id) != a.state for a in g.alerts.values())

    def _muted(self, a: Alert, now: int) -> bool:
        # a resolution is always sent for an alert that was notified as firing
        if a.state == "resolved":
            return False
        return self.muter is not None and self.muter.mutes(a.labels, now)
