"""One `Muter` protocol for silences, inhibitions and maintenance windows.

A muted alert is still recorded and still in the history; it is only not notified.
Silences can recur (every day, or on some weekdays, between two times of day in a
time zone), so "every night 02:00-04:00 Beijing time" is one silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from warroom.alerts.errors import InvalidInput
from warroom.alerts.matchers import Matcher, match_all
from warroom.alerts.model import Alert

DAY_MS = 86_400_000


class Muter(Protocol):
    def mutes(self, labels: dict[str, str], ts: int) -> bool:
        """True if an alert with these labels must not be notified at event time ts."""
        ...


@dataclass(frozen=True)
class Recurrence:
    """Daily window [start, end) in minutes after local midnight; end < start wraps."""

    start_minute: int
    end_minute: int
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0
    utc_offset_minutes: int = 480  # Beijing

    def __post_init__(self) -> None:
        for name, v in (("start_minute", self.start_minute), ("end_minute", self.end_minute)):
            if not 0 <= v <= 1440:
                raise InvalidInput(f"recurrence.{name}", "must be within 0..1440")
        if not self.weekdays or any(d not in range(7) for d in self.weekdays):
            raise InvalidInput("recurrence.weekdays", "must be weekdays 0 (Monday) .. 6")

    def active(self, ts: int) -> bool:
        tz = timezone(timedelta(minutes=self.utc_offset_minutes))
        local = datetime.fromtimestamp(ts / 1000, UTC).astimezone(tz)
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start_minute <= self.end_minute:
            return day in self.weekdays and self.start_minute <= minute < self.end_minute
        # wraps past midnight: the part after midnight belongs to the previous day's window
        if minute >= self.start_minute:
            return day in self.weekdays
        return minute < self.end_minute and (day - 1) % 7 in self.weekdays


@dataclass
class Silence:
    id: str
    matchers: list[Matcher]
    starts: int  # epoch ms, event time
    ends: int
    created_by: str
    comment: str = ""
    recurrence: Recurrence | None = None

    def __post_init__(self) -> None:
        if not self.matchers:
            raise InvalidInput("matchers", "a silence needs at least one matcher")
        if self.ends <= self.starts:
            raise InvalidInput("ends", "must be after starts")

    def mutes(self, labels: dict[str, str], ts: int) -> bool:
        if not self.starts <= ts < self.ends:
            return False
        if self.recurrence is not None and not self.recurrence.active(ts):
            return False
        return match_all(self.matchers, labels)


@dataclass
class InhibitRule:
    """While an alert matching `source` fires, alerts matching `target` with the same
    values of `equal` are muted (Alertmanager's inhibit_rules)."""

    source: list[Matcher]
    target: list[Matcher]
    equal: tuple[str, ...] = ()


@dataclass
class Inhibitor:
    """Explicit rules, plus the watch's own: a firing alert mutes its children (same
    metric and direction, a more specific scope)."""

    rules: list[InhibitRule] = field(default_factory=list)
    firing: dict[str, Alert] = field(default_factory=dict)

    def update(self, alert: Alert) -> None:
        if alert.state == "firing":
            self.firing[alert.id] = alert
        else:
            self.firing.pop(alert.id, None)

    def mutes(self, labels: dict[str, str], ts: int) -> bool:
        for src in self.firing.values():
            sl = src.labels
            if sl == labels:
                continue
            if _parent_of(src, labels):
                return True
            for r in self.rules:
                if (
                    match_all(r.source, sl)
                    and match_all(r.target, labels)
                    and all(sl.get(k) == labels.get(k) for k in r.equal)
                ):
                    return True
        return False


def _parent_of(src: Alert, labels: dict[str, str]) -> bool:
    if labels.get("metric") != src.metric or labels.get("direction") != src.direction:
        return False
    scope = {k: v for k, v in labels.items() if k in _DIMS}
    own = dict(src.scope)
    return len(scope) > len(own) and all(scope.get(k) == v for k, v in own.items())


_DIMS = ("region", "country", "channel", "category", "method", "campaign", "merchant")


@dataclass
class Muters:
    """Several muters as one."""

    parts: list[Muter]

    def mutes(self, labels: dict[str, str], ts: int) -> bool:
        return any(m.mutes(labels, ts) for m in self.parts)
