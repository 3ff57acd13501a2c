"""Label matchers as operators write them in Alertmanager: `name="v"`, `!=`, `=~`, `!~`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from warroom.alerts.errors import InvalidInput

Op = Literal["=", "!=", "=~", "!~"]
_PARSE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise InvalidInput(
                    "matchers", f"bad regular expression {self.value!r}: {exc}"
                ) from exc

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        full = re.fullmatch(self.value, got) is not None  # anchored, as in Alertmanager
        return full if self.op == "=~" else not full

    def text(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'

    @classmethod
    def parse(cls, text: str) -> Matcher:
        m = _PARSE.match(text)
        if not m:
            raise InvalidInput("matchers", f'{text!r} is not name="value" (or !=, =~, !~)')
        return cls(m.group(1), m.group(2), m.group(3))  # type: ignore[arg-type]


def match_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
