"""The refund policy file: defaults, merging, and errors that name file, field and rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from warroom.guards.refunds.errors import PolicyError
from warroom.guards.refunds.policy import DEFAULT_WEIGHTS, load_policy, parse_policy


def test_the_shipped_policy_loads_and_matches_the_code_defaults():
    shipped = load_policy()
    assert shipped.name == "default_policy.yaml"
    assert shipped.model_dump(exclude={"name"}) == parse_policy("", "x").model_dump(
        exclude={"name"}
    )
    assert shipped.auto_approve.max_amount == Decimal(50000)


def test_a_file_changes_only_what_it_names():
    p = parse_policy("signals: {weights: {velocity: 0.9}}\nreview: {risk_at: 0.7}", "p.yaml")
    assert p.signals.weights == {**DEFAULT_WEIGHTS, "velocity": 0.9}
    assert p.review.risk_at == 0.7 and p.links.household_size == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "auto_approve: {max_amount: -5}",
            "p.yaml: field auto_approve.max_amount: Input should be greater than or equal to 0",
        ),
        ("review: {risk_at: 2}", "p.yaml: field review.risk_at: Input should be less than or"),
        ("signals: {weights: {foo: 1}}", "p.yaml: field signals.weights: unknown signal 'foo'"),
        ("signals: {weights: {velocity: 3}}", "p.yaml: field signals.weights.velocity: Input"),
        ("bogus: 1", "p.yaml: field bogus: Extra inputs are not permitted"),
        ("links: {household_size: many}", "p.yaml: field links.household_size: Input should be"),
        ("- a\n- b", "p.yaml: the policy must be a mapping of sections"),
        ("a: [", "p.yaml: not valid YAML at line"),
        (
            "auto_approve: {max_amount: 10, trusted_max_amount: 5}",
            "trusted_max_amount must be >= auto_approve.max_amount",
        ),
        ("version: 2", "p.yaml: field version: Input should be less than or equal to 1"),
    ],
)
def test_bad_policies_are_refused_with_the_field_and_rule(text, message):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert message in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(PolicyError, match=r"nope\.yaml: cannot read the policy"):
        load_policy(tmp_path / "nope.yaml")
