"""The refund policy: a YAML file, validated with errors that name the file, field and rule."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from warroom.guards.refunds.errors import PolicyError

Amount = Annotated[Decimal, Field(ge=0, max_digits=18)]
Weight = Annotated[float, Field(ge=0, le=1)]
DEFAULT_WEIGHTS = {
    "ring_refunds": 0.6,
    "linked_accounts": 0.35,
    "no_return": 0.3,
    "not_received_unshipped": 0.35,
    "unshipped": 0.1,
    "velocity": 0.2,
    "refund_ratio": 0.3,
    "new_account": 0.1,
    "fast_refund": 0.1,
    "unknown_order": 0.1,
}
SIGNALS = tuple(DEFAULT_WEIGHTS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AutoApprove(_Strict):
    max_amount: Amount = Decimal(50000)
    trusted_max_amount: Amount = Decimal(200000)
    trusted_min_orders: int = Field(5, ge=1)
    trusted_max_refund_ratio: float = Field(0.5, ge=0, le=1)
    merchants: dict[str, Amount] = Field(default_factory=dict)
    categories: dict[str, Amount] = Field(default_factory=dict)


class Review(_Strict):
    risk_at: float = Field(0.6, gt=0, le=1)
    merchants: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)


class Signals(_Strict):
    window_hours: float = Field(24, gt=0)
    new_account_hours: float = Field(24, ge=0)
    fast_refund_minutes: float = Field(30, ge=0)
    velocity_full: int = Field(5, ge=2)
    ratio_prior_orders: float = Field(3, ge=0)
    ratio_prior_rate: float = Field(0.05, ge=0, le=1)
    links_full: int = Field(4, ge=1)
    ring_full: int = Field(2, ge=1)
    # a buyer who sent the goods back in most earlier refunds earns credit: the risk is
    # multiplied by 1 - return_credit x (share sent back), from this many refunds on
    return_credit: float = Field(0.4, ge=0, le=1)
    return_credit_min_refunds: int = Field(3, ge=1)
    weights: dict[str, Weight] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @field_validator("weights", mode="after")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(SIGNALS))
        if unknown:
            raise ValueError(f"unknown signal {unknown[0]!r}; known: {', '.join(SIGNALS)}")
        return {**DEFAULT_WEIGHTS, **value}  # a file names only the weights it changes

    def weight(self, name: str) -> float:
        return self.weights.get(name, 0.0)


class Links(_Strict):
    device_weight: Weight = 1.0
    address_weight: Weight = 0.5
    household_size: int = Field(4, ge=1)
    link_at: float = Field(0.5, gt=0, le=1)
    max_component: int = Field(500, ge=2)


class Policy(_Strict):
    version: int = Field(1, ge=1, le=1)
    auto_approve: AutoApprove = Field(default_factory=AutoApprove)
    review: Review = Field(default_factory=Review)
    signals: Signals = Field(default_factory=Signals)
    links: Links = Field(default_factory=Links)
    name: str = ""  # where it came from, for reports

    @model_validator(mode="after")
    def _limits_ordered(self) -> Policy:
        a = self.auto_approve
        if a.trusted_max_amount < a.max_amount:
            raise ValueError("auto_approve.trusted_max_amount must be >= auto_approve.max_amount")
        return self


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in `path`, or the default one shipped with warroom."""
    if path is None:
        text = resources.files(__package__).joinpath("default_policy.yaml").read_text("utf-8")
        return parse_policy(text, "default_policy.yaml")
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read the policy ({exc.strerror})") from exc
    return parse_policy(text, str(p))


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{source}: not valid YAML{where}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: the policy must be a mapping of sections")
    try:
        return Policy.model_validate({**data, "name": source})
    except ValidationError as exc:
        raise PolicyError(_explain(source, exc)) from exc


def _explain(source: str, exc: ValidationError) -> str:
    lines = []
    for e in exc.errors():
        field = ".".join(str(part) for part in e["loc"]) or "(top level)"
        rule = str(e["msg"]).removeprefix("Value error, ")
        got = f" (got {e['input']!r})" if e["type"] != "extra_forbidden" and _short(e) else ""
        lines.append(f"{source}: field {field}: {rule}{got}")
    return "\n".join(lines)


def _short(e: Any) -> bool:
    return not isinstance(e.get("input"), dict | list) and len(repr(e.get("input"))) < 60
