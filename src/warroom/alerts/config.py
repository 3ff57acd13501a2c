"""`--alerts-config FILE`: routes, receivers and inhibit rules, in Alertmanager's words.

    route:                      # the root: the default receiver and group settings
      receiver: ops
      group_by: [alertname, region]
      group_wait: 30s           # durations: 500ms, 30s, 5m, 4h, 1d (or milliseconds)
      group_interval: 5m
      repeat_interval: 4h
      routes:                   # children inherit what they do not set; first match wins
        - matchers: ['severity="critical"']
          receiver: pager
    receivers:
      - name: ops
        webhook_configs: [{url: "http://..."}]
        slack_configs: [{url: "https://hooks.slack.com/..."}]
        dingtalk_configs: [{url: "...", secret: "SEC..."}]
        feishu_configs: [{url: "...", secret: "..."}]
      - name: pager
        pagerduty_configs: [{routing_key: "..."}]
    inhibit_rules:
      - source_matchers: ['severity="critical"']
        target_matchers: ['severity="warning"']
        equal: [region]

Every error names the field it is about (`route.routes[0].group_wait: ...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warroom.alerts.dispatch import Route
from warroom.alerts.errors import InvalidInput
from warroom.alerts.matchers import Matcher
from warroom.alerts.mute import InhibitRule
from warroom.notify.base import Notifier

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_STRICT = ConfigDict(extra="forbid")


class _Url(BaseModel):
    model_config = _STRICT
    url: str = Field(pattern=r"^https?://")


class _Signed(_Url):
    secret: str | None = None


class _PagerDuty(BaseModel):
    model_config = _STRICT
    routing_key: str = Field(min_length=1)
    url: str | None = Field(None, pattern=r"^https?://")


class _Receiver(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    webhook_configs: list[_Url] = []
    slack_configs: list[_Url] = []
    dingtalk_configs: list[_Signed] = []
    feishu_configs: list[_Signed] = []
    pagerduty_configs: list[_PagerDuty] = []


class _Route(BaseModel):
    model_config = _STRICT
    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: str | int | None = None
    group_interval: str | int | None = None
    repeat_interval: str | int | None = None
    matchers: list[str] = []
    routes: list[_Route] = []


class _Inhibit(BaseModel):
    model_config = _STRICT
    source_matchers: list[str] = Field(min_length=1)
    target_matchers: list[str] = Field(min_length=1)
    equal: list[str] = []


class _File(BaseModel):
    model_config = _STRICT
    route: _Route
    receivers: list[_Receiver] = Field(min_length=1)
    inhibit_rules: list[_Inhibit] = []


@dataclass
class AlertsConfig:
    routes: list[Route]  # flattened, most specific first; the root (no matchers) last
    receivers: dict[str, list[Notifier]]
    inhibit_rules: list[InhibitRule] = field(default_factory=list)


def load(path: Path) -> AlertsConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput("--alerts-config", f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput("--alerts-config", f"{path} is not YAML: {exc}") from exc
    return parse(raw)


def parse(raw: Any) -> AlertsConfig:
    try:
        spec = _File.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(_loc(first["loc"]), str(first["msg"])) from exc
    names = [r.name for r in spec.receivers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidInput(f"receivers[{i}].name", f"{name!r} is defined twice")
    if spec.route.receiver is None:
        raise InvalidInput("route.receiver", "the root route needs a receiver")
    if spec.route.matchers:
        raise InvalidInput("route.matchers", "the root route matches everything")
    routes: list[Route] = []
    _flatten(spec.route, "route", None, (), routes, set(names))
    inhibit = [
        InhibitRule(
            source=_matchers(r.source_matchers, f"inhibit_rules[{i}].source_matchers"),
            target=_matchers(r.target_matchers, f"inhibit_rules[{i}].target_matchers"),
            equal=tuple(r.equal),
        )
        for i, r in enumerate(spec.inhibit_rules)
    ]
    return AlertsConfig(routes, {r.name: _notifiers(r) for r in spec.receivers}, inhibit)


def _flatten(
    node: _Route,
    where: str,
    parent: Route | None,
    matchers: tuple[Matcher, ...],
    out: list[Route],
    receivers: set[str],
) -> None:
    """Depth first, children before their parent: the dispatcher takes the first route
    whose matchers fit, so the most specific must come first."""
    receiver = node.receiver or (parent.receiver if parent else "")
    if receiver not in receivers:
        raise InvalidInput(f"{where}.receiver", f"no receiver named {receiver!r}")
    base = parent or Route(receiver)
    mine = (*matchers, *_matchers(node.matchers, f"{where}.matchers"))
    wait = _ms(node.group_wait, f"{where}.group_wait", base.group_wait_ms)
    interval = _ms(node.group_interval, f"{where}.group_interval", base.group_interval_ms)
    repeat = _ms(node.repeat_interval, f"{where}.repeat_interval", base.repeat_interval_ms)
    try:
        route = Route(
            receiver=receiver,
            group_by=tuple(node.group_by) if node.group_by is not None else base.group_by,
            group_wait_ms=wait,
            group_interval_ms=interval,
            repeat_interval_ms=repeat,
            matchers=mine,
        )
    except InvalidInput as exc:  # name the YAML key, not the dataclass field
        key = exc.field.removesuffix("_ms")
        raise InvalidInput(f"{where}.{key}", exc.rule) from exc
    for i, child in enumerate(node.routes):
        _flatten(child, f"{where}.routes[{i}]", route, mine, out, receivers)
    out.append(route)


def _matchers(texts: list[str], where: str) -> tuple[Matcher, ...]:
    out = []
    for i, text in enumerate(texts):
        try:
            out.append(Matcher.parse(text))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}[{i}]", exc.rule) from exc
    return tuple(out)


def _ms(value: str | int | None, where: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    m = _DURATION.match(value)
    if not m:
        raise InvalidInput(where, f"{value!r} is not a duration like 30s, 5m, 4h")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def _notifiers(r: _Receiver) -> list[Notifier]:
    from warroom.notify.dingtalk import DingTalk
    from warroom.notify.feishu import Feishu
    from warroom.notify.pagerduty import PagerDuty
    from warroom.notify.slack import Slack
    from warroom.notify.webhook import Webhook

    out: list[Notifier] = []
    out += [Webhook(c.url) for c in r.webhook_configs]
    out += [Slack(c.url) for c in r.slack_configs]
    out += [DingTalk(c.url, c.secret) for c in r.dingtalk_configs]
    out += [Feishu(c.url, c.secret) for c in r.feishu_configs]
    out += [
        PagerDuty(c.routing_key, c.url) if c.url else PagerDuty(c.routing_key)
        for c in r.pagerduty_configs
    ]
    return out


def _loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "config"
