"""Loading plan files with line numbers, and the checker behind `warroom plans check`.

PyYAML's composed nodes give each key and item its line; msgspec checks the structure
(its error path is mapped back to a line), then the rules below check the meaning.
Every issue is `Issue(file, line, rule, message)`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from warroom.alerts.matchers import Matcher
from warroom.auth.roles import ROLES, allows
from warroom.command.actions import ACTIONS
from warroom.command.clock import parse_duration
from warroom.command.errors import PlanInvalid
from warroom.command.plans import SCOPE_PARAMS, Plan, Step

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Issue:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.rule}] {self.message}"


Path_ = tuple[str | int, ...]


def _lines(node: yaml.Node, path: Path_ = (), out: dict[Path_, int] | None = None) -> dict:
    """Each path in the document -> the 1-based line where it is written."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)
    return out


def _line(lines: dict[Path_, int], path: Path_) -> int:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$")


def _msgspec_issue(file: str, lines: dict[Path_, int], exc: msgspec.ValidationError) -> Issue:
    message, where = _AT.match(str(exc)).groups()  # type: ignore[union-attr]
    path: list[str | int] = [
        int(index) if index else key for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", where or "")
    ]
    unknown = re.search(r"unknown field `(.+?)`", message)
    if unknown:
        path.append(unknown.group(1))
    rule = (
        "schema.unknown_field"
        if unknown
        else "schema.required"
        if "missing required" in message
        else "schema.type"
    )
    return Issue(file, _line(lines, tuple(path)), rule, message)


def load(path: Path) -> tuple[Plan | None, list[Issue]]:
    """Parse and check one plan file: the plan (None if unreadable) and its issues."""
    file = str(path)
    text = path.read_text("utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, [Issue(file, line, "yaml.syntax", str(exc).splitlines()[0])]
    if node is None or not isinstance(data, dict):
        return None, [Issue(file, 1, "schema.type", "a plan is a mapping (name, title, ...)")]
    lines = _lines(node)
    try:
        plan = msgspec.convert(data, Plan)
    except msgspec.ValidationError as exc:
        return None, [_msgspec_issue(file, lines, exc)]
    return plan, list(_rules(file, lines, plan, path.stem))


def _rules(file: str, lines: dict[Path_, int], plan: Plan, stem: str) -> Iterator[Issue]:
    def at(*path: str | int) -> int:
        return _line(lines, tuple(path))

    if not _NAME.match(plan.name):
        yield Issue(file, at("name"), "plan.name", "name is lower-case letters, digits and -")
    elif plan.name != stem:
        yield Issue(file, at("name"), "plan.name", f"name {plan.name!r} is not the file's {stem!r}")
    for pname, param in plan.parameters.items():
        want = SCOPE_PARAMS.get(pname)
        if want and param.type != want:
            yield Issue(
                file,
                at("parameters", pname),
                "param.type",
                f"scope parameter {pname!r} must be of type {want}",
            )
    if not plan.trigger.manual and not plan.trigger.alert:
        yield Issue(file, at("trigger"), "trigger.empty", "trigger needs alert matchers or manual")
    for i, text in enumerate(plan.trigger.alert):
        try:
            Matcher.parse(text)
        except Exception as exc:  # InvalidInput names the matcher
            yield Issue(file, at("trigger", "alert", i), "trigger.matcher", str(exc))
    for pname in plan.trigger.bind:
        if pname not in plan.parameters:
            yield Issue(
                file,
                at("trigger", "bind", pname),
                "trigger.bind",
                f"binds {pname!r}, which is not a parameter",
            )
    if not plan.steps:
        yield Issue(file, at("steps"), "plan.steps", "a plan needs at least one step")
    seen: set[str] = set()
    for i, step in enumerate(plan.steps):
        yield from _step_rules(file, at, plan, i, step, seen)


def _step_rules(
    file: str, at: Callable[..., int], plan: Plan, i: int, step: Step, seen: set[str]
) -> Iterator[Issue]:
    if step.id in seen:
        yield Issue(file, at("steps", i, "id"), "step.id.duplicate", f"step id {step.id!r} twice")
    seen.add(step.id)
    if step.approve not in ROLES or not allows(step.approve, "approve"):
        able = sorted(r for r in ROLES if allows(r, "approve"))
        yield Issue(
            file,
            at("steps", i, "approve"),
            "step.approve.role",
            f"{step.approve!r} cannot approve; one of {', '.join(able)}",
        )
    try:
        parse_duration(step.timeout)
    except ValueError as exc:
        yield Issue(file, at("steps", i, "timeout"), "step.timeout", str(exc))
    action = ACTIONS.get(step.action)
    if action is None:
        yield Issue(
            file,
            at("steps", i, "action"),
            "step.action.unknown",
            f"unknown action {step.action!r}; known: {', '.join(sorted(ACTIONS))}",
        )
        return
    spec = action.spec
    if step.undo == "auto" and not spec.undoable:
        yield Issue(
            file,
            at("steps", i, "undo"),
            "step.undo.unsupported",
            f"{spec.name} cannot be undone; write undo: none",
        )
    for key in spec.required:
        if key not in step.args:
            yield Issue(file, at("steps", i), "step.with.missing", f"{spec.name} needs with.{key}")
    for key in step.args:
        if key not in spec.required + spec.optional:
            yield Issue(
                file,
                at("steps", i, "with", key),
                "step.with.unknown",
                f"{spec.name} takes no with.{key}",
            )
    for key, value in step.args.items():
        for name in _fields(value):
            if name not in plan.parameters:
                yield Issue(
                    file,
                    at("steps", i, "with", key),
                    "step.with.param",
                    f"{{{name}}} is not a parameter of the plan",
                )
    if spec.scope and not any(p in plan.parameters for p in spec.scope):
        yield Issue(
            file,
            at("steps", i, "action"),
            "step.scope.missing",
            f"{spec.name} needs a scope parameter: one of {', '.join(spec.scope)}",
        )


def _fields(value: Any) -> list[str]:
    texts = value if isinstance(value, list) else [value]
    return [
        f for t in texts if isinstance(t, str) for _, f, _, _ in string.Formatter().parse(t) if f
    ]


def check_dir(directory: Path) -> tuple[list[Plan], list[Issue]]:
    """Every *.yaml / *.yml plan in `directory`: the valid plans and all issues."""
    plans: list[Plan] = []
    issues: list[Issue] = []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        issues.append(Issue(str(directory), 0, "dir.empty", "no *.yaml plan files"))
    for path in files:
        plan, found = load(path)
        issues.extend(sorted(found, key=lambda i: i.line))
        if plan is not None and not found:
            plans.append(plan)
    return plans, issues


def load_plan(path: Path) -> Plan:
    plan, issues = load(path)
    if issues or plan is None:
        raise PlanInvalid("; ".join(str(i) for i in issues))
    return plan
