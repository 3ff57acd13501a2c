"""Plans: the shipped plans pass `check`; each broken rule is named with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from warroom.cli import app
from warroom.command.errors import PlanInvalid
from warroom.command.plancheck import check_dir, load_plan
from warroom.command.plans import bind, matches_alert, params_from_alert, render

PLANS = Path(__file__).resolve().parents[1] / "plans"
SEED_KINDS = {
    "payment-channel-down",
    "region-down",
    "catalog-scrambled",
    "price-error",
    "refund-abuse-wave",
}
GOOD = """\
name: {name}
title: Good
trigger: {{manual: true}}
parameters:
  merchants: {{type: list, required: true}}
steps:
  - id: hold
    action: hold_shipping
    approve: commander
    timeout: 5m
    undo: auto
"""


def test_shipped_plans_all_pass_check() -> None:
    plans, issues = check_dir(PLANS)
    assert issues == []
    assert {p.name for p in plans} == SEED_KINDS


def test_cli_check_exit_codes(tmp_path: Path) -> None:
    ok = CliRunner().invoke(app, ["plans", "check", str(PLANS)])
    assert ok.exit_code == 0, ok.output
    (tmp_path / "x.yaml").write_text(GOOD.format(name="x").replace("5m", "soon"))
    bad = CliRunner().invoke(app, ["plans", "check", str(tmp_path)])
    assert bad.exit_code == 1
    assert f"{tmp_path / 'x.yaml'}:10: [step.timeout]" in bad.output


@pytest.mark.parametrize(
    ("old", "new", "line", "rule"),
    [
        ("approve: commander", "approve: viewer", 9, "step.approve.role"),
        ("timeout: 5m", "timeout: 5 minutes", 10, "step.timeout"),
        ("action: hold_shipping", "action: explode", 8, "step.action.unknown"),
        ("undo: auto", "undo: maybe", 11, "schema.type"),
        (
            "  merchants: {type: list, required: true}",
            "  merchants: {type: string}",
            5,
            "param.type",
        ),
        ("trigger: {manual: true}", "trigger: {alert: ['metric~x']}", 3, "trigger.matcher"),
        ("trigger: {manual: true}", "trigger: {}", 3, "trigger.empty"),
        ("    undo: auto", "    undo: auto\n    colour: red", 12, "schema.unknown_field"),
        ("    action: hold_shipping", "    action: broadcast", 11, "step.undo.unsupported"),
        (
            "  merchants: {type: list, required: true}",
            "  region: {type: string}",
            8,
            "step.scope.missing",
        ),
        ("title: Good", "title: [open", 3, "yaml.syntax"),
    ],
)
def test_each_rule_names_file_line_and_rule(
    tmp_path: Path, old: str, new: str, line: int, rule: str
) -> None:
    text = GOOD.format(name="p")
    assert old in text
    (tmp_path / "p.yaml").write_text(text.replace(old, new, 1))
    _, issues = check_dir(tmp_path)
    assert (str(tmp_path / "p.yaml"), line, rule) in [(i.file, i.line, i.rule) for i in issues]


def test_step_arguments_are_checked(tmp_path: Path) -> None:
    text = (
        GOOD.format(name="p")
        .replace(
            "    undo: auto",
            "    undo: auto\n  - {id: say, action: broadcast, approve: admin,"
            " timeout: 1m, undo: none, with: {message: 'hi {who}', loud: true}}",
        )
        .replace("- id: hold", "- id: say", 1)
    )
    (tmp_path / "p.yaml").write_text(text)
    _, issues = check_dir(tmp_path)
    rules = {(i.line, i.rule) for i in issues}
    assert (12, "step.id.duplicate") in rules
    assert (12, "step.with.param") in rules
    assert (12, "step.with.unknown") in rules
    (tmp_path / "p.yaml").write_text(GOOD.format(name="other"))
    _, issues = check_dir(tmp_path)
    assert [(i.line, i.rule) for i in issues] == [(1, "plan.name")]


def test_alert_matches_plan_and_binds_its_scope() -> None:
    scrambled = load_plan(PLANS / "catalog-scrambled.yaml")
    price = load_plan(PLANS / "price-error.yaml")
    alert = {
        "id": "cat-1",
        "source": "catalog",
        "metric": "sku_changes",
        "direction": "change",
        "summary": "SKU attributes scrambled by merchant:m-17: 4 SKUs",
        "scope": {},
        "entities": {"merchants": ["m-17"], "skus": ["s1", "s2"]},
    }
    assert matches_alert(scrambled, alert) and not matches_alert(price, alert)
    params = params_from_alert(scrambled, alert)
    assert params == {"merchants": ["m-17"], "skus": ["s1", "s2"]}
    scope = bind(scrambled, params)
    assert scope.merchants == ("m-17",) and scope.skus == ("s1", "s2")
    region = load_plan(PLANS / "region-down.yaml")
    down = {"metric": "orders", "direction": "drop", "scope": {"region": "CN-GD"}}
    assert matches_alert(region, down)
    assert params_from_alert(region, down) == {"regions": ["CN-GD"]}
    assert render("Region {regions} is down", {"regions": ["CN-GD", "CN-ZJ"]}) == (
        "Region CN-GD, CN-ZJ is down"
    )


def test_bind_refuses_missing_and_unknown_parameters() -> None:
    plan = load_plan(PLANS / "region-down.yaml")
    with pytest.raises(PlanInvalid, match="'regions' is required"):
        bind(plan, {})
    with pytest.raises(PlanInvalid, match="unknown parameters colour"):
        bind(plan, {"regions": ["CN-GD"], "colour": "red"})
    assert bind(plan, {"regions": ["CN-GD"], "since": "2026-11-11T00:00:01+08:00"}).since == (
        1_794_326_401_000
    )
