"""Alertmanager's webhook, received: existing Prometheus rules open alerts here.

`parse` turns an Alertmanager v4 payload into alert records (the fingerprint is the
id, so a resolution closes the alert it opened); `AlertBook.ingest` takes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warroom.alerts.errors import InvalidInput
from warroom.alerts.model import SOURCES, Alert, scope_text

_DIMS = ("region", "country", "channel", "category", "method", "campaign", "merchant")
_SEVERITIES = ("info", "warning", "critical")


def parse(body: Any) -> list[Alert]:
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
        raise InvalidInput("alerts", "an Alertmanager webhook body has a list of alerts")
    if str(body.get("version", "4")) != "4":
        raise InvalidInput("version", "only Alertmanager's webhook version 4 is understood")
    return [_one(a, i) for i, a in enumerate(body["alerts"])]


def _one(a: Any, i: int) -> Alert:
    where = f"alerts[{i}]"
    if not isinstance(a, dict) or not isinstance(a.get("labels"), dict):
        raise InvalidInput(f"{where}.labels", "must be an object")
    labels: dict[str, str] = {str(k): str(v) for k, v in a["labels"].items()}
    ann = a.get("annotations") or {}
    state = a.get("status")
    if state not in ("firing", "resolved"):
        raise InvalidInput(f"{where}.status", "must be firing or resolved")
    when = a.get("endsAt") if state == "resolved" else a.get("startsAt")
    ts = _ms(when, f"{where}.{'endsAt' if state == 'resolved' else 'startsAt'}")
    fingerprint = a.get("fingerprint") or "|".join(f"{k}={labels[k]}" for k in sorted(labels))
    scope = {d: labels[d] for d in _DIMS if d in labels}
    name = labels.get("alertname", "prometheus")
    severity = labels.get("severity", "warning")
    return Alert(
        id=f"am-{fingerprint}",
        state=state,
        ts=ts,
        source=labels.get("source") if labels.get("source") in SOURCES else "kpi",  # type: ignore[arg-type]
        metric=labels.get("metric", name),
        scope=scope,
        direction=labels.get("direction", "change")  # type: ignore[arg-type]
        if labels.get("direction") in ("drop", "spike", "change")
        else "change",
        observed=_num(ann.get("observed")),
        expected=_num(ann.get("expected")),
        score=1.0,
        severity=severity if severity in _SEVERITIES else "warning",  # type: ignore[arg-type]
        summary=str(ann.get("summary") or f"{name} in {scope_text(scope)}"),
    )


def _ms(text: Any, field: str) -> int:
    try:
        return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError as exc:
        raise InvalidInput(field, "must be an RFC 3339 time") from exc


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0
