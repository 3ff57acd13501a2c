"""Emergency plans (预案): the YAML format and what a run needs from it.

A plan is a trigger (alert matchers and/or manual), parameters (the scope), and ordered
steps, each with an action, the role that must approve it, a time-out for the approval
and an undo (`auto`: the action's inverse, or `none`). Loading and checking files is in
`plancheck.py`; the shipped plans are in `plans/` at the repository root.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from warroom.alerts.matchers import Matcher
from warroom.command.errors import PlanInvalid
from warroom.command.orders import Scope

SCOPE_PARAMS = {f: ("time" if f == "since" else "list") for f in Scope.__struct_fields__}


class Param(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["list", "string", "time"] = "string"
    required: bool = False
    description: str = ""


class Trigger(msgspec.Struct, forbid_unknown_fields=True):
    manual: bool = False
    alert: list[str] = []  # matchers on the alert: source, metric, direction, severity, scope keys
    bind: dict[str, str] = {}  # parameter -> dotted path in the alert (scope.region, entities.skus)


class Step(msgspec.Struct, forbid_unknown_fields=True, rename={"args": "with"}):
    id: str
    action: str
    approve: str  # a role; the approver must hold it and must not be the requester
    timeout: str  # how long the approval may take
    undo: Literal["auto", "none"]
    args: dict[str, Any] = {}
    title: str = ""


class Plan(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    title: str
    trigger: Trigger
    steps: list[Step]
    parameters: dict[str, Param] = {}
    description: str = ""


def render(value: Any, params: dict[str, Any]) -> Any:
    """Fill `{param}` in a step's string arguments (lists are joined with ", ")."""
    shown = {
        k: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v for k, v in params.items()
    }
    if isinstance(value, str):
        return value.format_map(shown)
    if isinstance(value, list):
        return [render(v, params) for v in value]
    if isinstance(value, dict):
        return {k: render(v, params) for k, v in value.items()}
    return value


def bind(plan: Plan, params: dict[str, Any]) -> Scope:
    """Check the run's parameters against the plan and make its scope."""
    for name, param in plan.parameters.items():
        if param.required and params.get(name) in (None, "", [], ()):
            raise PlanInvalid(f"plan {plan.name}: parameter {name!r} is required")
    unknown = sorted(set(params) - set(plan.parameters))
    if unknown:
        raise PlanInvalid(f"plan {plan.name}: unknown parameters {', '.join(unknown)}")
    fields = {k: v for k, v in params.items() if k in SCOPE_PARAMS and v is not None}
    if isinstance(fields.get("since"), str):  # RFC 3339, as in the event contract
        fields["since"] = int(datetime.fromisoformat(fields["since"]).timestamp() * 1000)
    try:
        return msgspec.convert(fields, Scope)
    except msgspec.ValidationError as exc:
        raise PlanInvalid(f"plan {plan.name}: {exc}") from exc


def alert_labels(alert: dict[str, Any]) -> dict[str, str]:
    labels = {
        k: str(alert[k])
        for k in ("source", "metric", "direction", "severity", "summary")
        if k in alert
    }
    labels.update({k: str(v) for k, v in (alert.get("scope") or {}).items()})
    return labels


def matches_alert(plan: Plan, alert: dict[str, Any]) -> bool:
    if not plan.trigger.alert:
        return False
    labels = alert_labels(alert)
    return all(Matcher.parse(m).matches(labels) for m in plan.trigger.alert)


def params_from_alert(plan: Plan, alert: dict[str, Any]) -> dict[str, Any]:
    """The plan's parameters read from the alert along `trigger.bind`."""
    out: dict[str, Any] = {}
    for pname, dotted in plan.trigger.bind.items():
        value: Any = alert
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        want = plan.parameters[pname].type
        out[pname] = [value] if want == "list" and not isinstance(value, list) else value
    return out
