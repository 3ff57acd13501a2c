"""Campaign files: validation names file, field and rule; the demo's eleven campaigns."""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from warroom.campaigns.model import CampaignError, Clock, load_file, parse_file, planned_share
from warroom.sim import world

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "campaigns" / "double11.yaml"

BAD = """
campaigns:
  - id: c-01
    name: X
    commander: li
    window: {start: "2026-11-11T10:00", end: "2026-11-11T09:00", timezone: Asia/Shanghai}
    scope: {campaign: c-01}
    targets: {gmv: 100}
  - id: c-02
    name: Y
    commander: wang
    window: {start: "2026-11-11T00:00", end: "2026-11-12T00:00", timezone: Mars/Base}
    scope: {merchants: [m1], regions: [CN-ZJ]}
    targets: {gmv: -5, refund_rate: 1.5}
    plan: [{at: "01:00", share: 0.5}, {at: "02:00", share: 0.3}]
    colour: red
"""


def test_errors_name_file_field_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(CampaignError) as got:
        load_file(path)
    lines = str(got.value).splitlines()
    assert all(line.startswith(f"{path}: campaigns[") for line in lines)
    text = str(got.value)
    assert "campaigns[0] (c-01).window: Value error" not in text  # people-readable
    assert "campaigns[0] (c-01).window: end must be after start (rule value_error)" in text
    assert "campaigns[1] (c-02).window.timezone: unknown IANA time zone 'Mars/Base'" in text
    assert "campaigns[1] (c-02).scope: merchants cannot be combined" in text
    assert (
        "campaigns[1] (c-02).targets.gmv: Input should be greater than 0 (rule greater_than)"
        in text
    )
    assert "targets.refund_rate: Input should be less than or equal to 1" in text
    assert "campaigns[1] (c-02).plan: plan shares must not decrease" in text
    assert (
        "campaigns[1] (c-02).colour: Extra inputs are not permitted (rule extra_forbidden)" in text
    )


def test_duplicate_ids_and_missing_targets_are_refused() -> None:
    one = (
        "- {id: a, name: A, commander: x, scope: {campaign: a}, targets: {},"
        " window: {start: '2026-11-11T00:00', end: '2026-11-11T01:00'}}\n"
    )
    with pytest.raises(CampaignError, match=r"campaigns\[0\] \(a\)\.targets: at least one target"):
        parse_file(one, "f.yaml")
    ok = one.replace("targets: {}", "targets: {orders: 5}")
    with pytest.raises(CampaignError, match=r"f\.yaml: campaigns: .*'a' is defined twice"):
        parse_file(ok + ok, "f.yaml")


def test_unquoted_yaml_clock_times_and_the_planned_curve() -> None:
    # YAML 1.1 reads 20:00 as 1200 (base 60): it still means 20:00
    f = parse_file(
        "campaigns:\n- {id: a, name: A, commander: x, scope: {categories: [toys]},"
        " targets: {gmv: 100}, plan: [{at: 20:00, share: 0.5}],"
        " window: {start: '2026-11-11T12:00', end: '2026-11-12T00:00'}}\n"
    )
    (c,) = f.campaigns
    assert c.plan[0].at == time(20, 0)
    plan = Clock().plan(c)
    start, end = plan[0][0], plan[-1][0]
    assert end - start == 12 * 3_600_000 and start == world.MIDNIGHT + 12 * 3_600_000
    assert planned_share(plan, start + 4 * 3_600_000) == pytest.approx(0.25)  # 16:00
    assert planned_share(plan, start + 8 * 3_600_000) == pytest.approx(0.5)  # 20:00
    assert planned_share(plan, start + 10 * 3_600_000) == pytest.approx(0.75)


def test_demo_file_matches_the_simulator() -> None:
    f = load_file(DEMO)
    assert len(f.campaigns) == 11
    assert sorted(c.scope.campaign for c in f.campaigns) == world.CAMPAIGNS
    for c in f.campaigns:
        assert set(c.scope.categories) <= set(world.CATEGORIES), c.id
        assert set(c.scope.regions) <= set(world.REGIONS), c.id
    abroad = {r for r, _ in world.ABROAD}
    overseas = [c for c in f.campaigns if c.overseas]
    assert overseas and all(set(c.scope.regions) <= abroad for c in overseas)
    # the compressed day: clock 00:00 is the simulator's midnight
    clock = Clock(f.compress)
    assert clock.window(f.campaigns[0])[0] == world.MIDNIGHT


def test_check_command(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "campaigns", "check", str(DEMO)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "11 campaigns OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    got = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "campaigns", "check", str(bad)],
        capture_output=True,
        text=True,
    )
    assert got.returncode == 2
    assert "(c-02).targets.gmv: Input should be greater than 0 (rule greater_than)" in got.stderr
