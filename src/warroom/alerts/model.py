"""The alert record of OUTPUTS.md, and the NDJSON log a replay writes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from warroom.participants import TextSink

State = Literal["firing", "resolved"]
Direction = Literal["drop", "spike", "change"]
Severity = Literal["info", "warning", "critical"]
SOURCES = ("kpi", "catalog", "refund", "ingest")


@dataclass(frozen=True)
class Alert:
    id: str
    state: State
    ts: int  # event time, epoch ms
    source: str
    metric: str
    scope: dict[str, str]
    direction: Direction
    observed: float
    expected: float
    score: float
    severity: Severity
    summary: str
    entities: dict[str, list[str]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The OUTPUTS.md record: `entities` only when there are some."""
        out = asdict(self)
        if not self.entities:
            del out["entities"]
        return out

    def resolved(self, ts: int, observed: float, expected: float) -> Alert:
        return replace(self, state="resolved", ts=ts, observed=observed, expected=expected)

    @property
    def labels(self) -> dict[str, str]:
        """Alertmanager-style labels: what grouping, silences and inhibition match on."""
        return {
            "alertname": f"{self.metric}_{self.direction}",
            "source": self.source,
            "metric": self.metric,
            "direction": self.direction,
            "severity": self.severity,
            **self.scope,
        }


def alert_id(metric: str, scope: dict[str, str], direction: str, ts: int) -> str:
    """Stable and deterministic: the same replay gives the same ids."""
    key = json.dumps([metric, sorted(scope.items()), direction, ts])
    return "a-" + hashlib.sha1(key.encode()).hexdigest()[:16]


def scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "whole market"


class AlertLog:
    """`--alerts-out`: one JSON object per line, in event-time order, flushed per write."""

    def __init__(self, fh: TextSink) -> None:
        self.fh = fh

    def __call__(self, alert: Alert) -> None:
        self.fh.write(json.dumps(alert.record(), sort_keys=False) + "\n")
        self.fh.flush()
