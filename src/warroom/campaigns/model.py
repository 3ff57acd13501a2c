"""Campaign definitions (YAML or API): validated, with errors naming file, field and rule."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warroom.errors import WarroomError

MINUTE = 60_000


class CampaignError(WarroomError):
    """A campaign file or definition breaks a rule; the message names where and which."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    start: datetime
    end: datetime
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.local(self.end) <= self.local(self.start):
            raise ValueError("end must be after start")
        return self

    def local(self, t: datetime) -> datetime:
        """A naive time is read in the window's zone; an explicit offset is kept."""
        return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(self.timezone))


class Scope(_Strict):
    campaign: str | None = None  # the orders' `campaign` field
    categories: list[str] = []
    regions: list[str] = []
    merchants: list[str] = []

    @model_validator(mode="after")
    def _materialised(self) -> Scope:
        if not (self.campaign or self.categories or self.regions or self.merchants):
            raise ValueError("scope must name a campaign, categories, regions or merchants")
        if self.merchants and (self.campaign or self.categories or self.regions):
            raise ValueError(
                "merchants cannot be combined with campaign, categories or regions "
                "(no such grouping set is kept)"
            )
        if self.campaign and self.categories and self.regions:
            raise ValueError("campaign with both categories and regions is not kept; pick one")
        return self

    def dims(self) -> dict[str, list[str]]:
        """dimension -> accepted values, for the grouping set that answers this scope."""
        out: dict[str, list[str]] = {}
        if self.campaign:
            out["campaign"] = [self.campaign]
        for dim, values in (
            ("category", self.categories),
            ("region", self.regions),
            ("merchant", self.merchants),
        ):
            if values:
                out[dim] = list(values)
        return out


Ratio = Annotated[float, Field(ge=0, le=1)]


class Targets(_Strict):
    gmv: Annotated[float, Field(gt=0)] | None = None  # base currency
    orders: Annotated[int, Field(gt=0)] | None = None
    buyers: Annotated[int, Field(gt=0)] | None = None
    conversion: Ratio | None = None  # a floor
    refund_rate: Ratio | None = None  # a ceiling

    @model_validator(mode="after")
    def _some(self) -> Targets:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("at least one target (gmv, orders, buyers, conversion, refund_rate)")
        return self


class PlanPoint(_Strict):
    at: time  # clock time in the window's zone, on the window's days
    share: Ratio  # cumulative share of the targets reached by then

    @field_validator("at", mode="before")
    @classmethod
    def _sexagesimal(cls, v: Any) -> Any:
        # YAML 1.1 reads an unquoted 20:00 as the base-60 integer 1200 (minutes)
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1440:
            return time(v // 60, v % 60)
        return v


class Campaign(_Strict):
    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    name: Annotated[str, Field(min_length=1)]
    commander: Annotated[str, Field(min_length=1)]
    window: Window
    scope: Scope
    targets: Targets
    plan: list[PlanPoint] = []
    tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.15  # behind plan by more: alert
    overseas: bool = False  # a cross-border campaign (shown as such on its card)

    @field_validator("plan")
    @classmethod
    def _rising(cls, v: list[PlanPoint]) -> list[PlanPoint]:
        shares = [p.share for p in v]
        if shares != sorted(shares):
            raise ValueError("plan shares must not decrease")
        return v


class Compression(_Strict):
    """The demo squeezes a day into minutes of event time: clock `origin` stays put and
    every other time t becomes origin + (t - origin) * day_minutes / 1440."""

    origin: datetime
    day_minutes: Annotated[float, Field(gt=0, le=1440)] = 1440


class CampaignFile(_Strict):
    campaigns: list[Campaign]
    compress: Compression | None = None

    @field_validator("campaigns")
    @classmethod
    def _unique(cls, v: list[Campaign]) -> list[Campaign]:
        seen: set[str] = set()
        for i, c in enumerate(v):
            if c.id in seen:
                raise ValueError(f"campaigns[{i}]: campaign id {c.id!r} is defined twice")
            seen.add(c.id)
        return v


def _where(loc: tuple[Any, ...], doc: Any) -> str:
    """campaigns[2].targets.gmv -> campaigns[2] (c-03).targets.gmv, for people."""
    parts: list[str] = []
    node = doc
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id")
                label += f" ({ident})" if ident and parts == ["campaigns"] else ""
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top)"


def explain(exc: ValidationError, source: str, doc: Any) -> CampaignError:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {_where(err['loc'], doc)}: {msg} (rule {err['type']})")
    return CampaignError("\n".join(lines))


def parse_file(text: str, source: str = "<campaigns>") -> CampaignFile:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CampaignError(f"{source}: not YAML: {exc}") from exc
    if isinstance(doc, list):
        doc = {"campaigns": doc}
    if not isinstance(doc, dict):
        raise CampaignError(f"{source}: (top): must be a mapping with `campaigns` (rule type)")
    try:
        return CampaignFile.model_validate(doc)
    except ValidationError as exc:
        raise explain(exc, source, doc) from None


def load_file(path: Path) -> CampaignFile:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CampaignError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_file(text, str(path))


def parse_one(doc: dict[str, Any], source: str = "body") -> Campaign:
    try:
        return Campaign.model_validate(doc)
    except ValidationError as exc:
        raise explain(exc, source, doc) from None


class Clock:
    """Clock times of the campaigns -> event-time epoch ms (identity unless compressed)."""

    def __init__(self, compress: Compression | None = None) -> None:
        self.origin = _ms(compress.origin) if compress and compress.origin.tzinfo else None
        self.scale = (compress.day_minutes / 1440) if compress else 1.0

    def ms(self, t: datetime) -> int:
        real = _ms(t)
        if self.origin is None:
            return real
        return self.origin + round((real - self.origin) * self.scale)

    def window(self, c: Campaign) -> tuple[int, int]:
        w = c.window
        return self.ms(w.local(w.start)), self.ms(w.local(w.end))

    def plan(self, c: Campaign) -> list[tuple[int, float]]:
        """(event ms, cumulative share) from the window's start (0) to its end (1)."""
        w = c.window
        start, end = w.local(w.start), w.local(w.end)
        pts = [(self.ms(start), 0.0)]
        for p in c.plan:
            day = start.date()
            at = datetime.combine(day, p.at, tzinfo=start.tzinfo)
            while at <= start:  # the first occurrence of that clock time inside the window
                at += timedelta(days=1)
            if at < end:
                pts.append((self.ms(at), p.share))
        pts.append((self.ms(end), 1.0))
        return pts


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def planned_share(plan: list[tuple[int, float]], t: int) -> float:
    """Piecewise-linear cumulative share of the target planned by event time t."""
    if t <= plan[0][0]:
        return 0.0
    for (t0, s0), (t1, s1) in pairwise(plan):
        if t <= t1:
            return s0 + (s1 - s0) * (t - t0) / (t1 - t0) if t1 > t0 else s1
    return 1.0


def dump(c: Campaign) -> dict[str, Any]:
    return c.model_dump(mode="json", exclude_defaults=False)
