"""Incidents: declare (by hand, from an alert, from a plan), roles, status, timeline,
resolve, and the review in Markdown and HTML with the KPI charts."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from warroom.command.clock import FakeClock
from warroom.command.errors import InvalidTransition, NotFound
from warroom.command.plancheck import load_plan
from warroom.command.review import review_html, review_markdown, svg_chart
from warroom.command.service import Command
from warroom.store.db import Store

T0 = 1_794_326_400_000
PLANS = Path(__file__).resolve().parents[1] / "plans"
ALERT = {
    "id": "kpi-7",
    "state": "firing",
    "ts": T0,
    "source": "kpi",
    "metric": "payment_success_rate",
    "scope": {"method": "card"},
    "direction": "drop",
    "observed": 0.41,
    "expected": 0.97,
    "score": 0.99,
    "severity": "critical",
    "summary": "card payment success 41% (expected 97%)",
}


@pytest.fixture
def cmd(tmp_path: Path) -> Command:
    clock = FakeClock(T0)
    return Command.open(engine=Store.open(tmp_path).engine, clock=clock, audit_clock=clock)


def test_incident_from_alert_through_plan_to_review(cmd: Command) -> None:
    clock = cmd.clock
    inc = cmd.incidents.declare_from_alert(alert=ALERT, commander="alice", by="wendy")
    got = cmd.incidents.get(incident_id=inc)
    assert (got["title"], got["source"], got["status"]) == (
        ALERT["summary"],
        "alert:kpi-7",
        "active",
    )
    cmd.incidents.assign(incident_id=inc, role="scribe", person="sam", by="alice")
    cmd.incidents.assign(incident_id=inc, role="commander", person="carol", by="alice")
    assert cmd.incidents.get(incident_id=inc)["roles"] == {"commander": "carol", "scribe": "sam"}
    assert cmd.incidents.get(incident_id=inc)["commander"] == "carol"
    plan = load_plan(PLANS / "payment-channel-down.yaml")
    run_id = cmd.runs.start(plan=plan, params={"method": "card"}, by="carol", incident_id=inc)
    clock.advance(20)
    cmd.runs.approve(run_id=run_id, idx=0, by="alice", role="commander")
    clock.advance(40)
    cmd.incidents.set_status(incident_id=inc, status="mitigated", by="carol")
    clock.advance(600)
    cmd.incidents.resolve(incident_id=inc, by="carol", note="fallback acquirer holds")
    with pytest.raises(InvalidTransition):
        cmd.incidents.assign(incident_id=inc, role="comms", person="x", by="carol")
    timeline = cmd.incidents.timeline(incident_id=inc)
    kinds = [e["kind"] for e in timeline]
    assert kinds[:3] == ["decision", "alert", "decision"] and kinds[-2:] == ["status", "status"]
    assert {"step", "message"} <= set(kinds)
    assert timeline[1]["data"]["id"] == "kpi-7"

    incident = cmd.incidents.get(incident_id=inc)
    kpis = {
        "payment_success_rate": [
            (T0 + i * 60_000, 0.97 if 1 < i < 4 else 0.4) for i in range(-5, 15)
        ]
    }
    md = review_markdown(incident, timeline, kpis)
    assert md.startswith(f"# Incident {inc}: card payment success 41%")
    assert "(0h 11m 0s)" in md and "| alice | step.approve run:1/step:0: ok |" in md
    assert md.count("\n| 2026-") == len(timeline)
    assert "payment_success_rate: 20 points, min 0.4, max 0.97" in md
    page = review_html(incident, timeline, kpis)
    assert page.count("<tr><td>") == len(timeline) and "<svg" in page
    assert "fallback acquirer holds" in page


def test_chart_marks_and_escaping() -> None:
    svg = svg_chart("gmv <cny>", [(0, 1.0), (10, 3.0), (20, 2.0)], marks=[5, 20])
    root = ElementTree.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    points = root.find(f"{ns}polyline").get("points").split()  # type: ignore[union-attr]
    assert len(points) == 3
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[1] < ys[2] < ys[0]  # SVG y grows downwards: the highest value is nearest the top
    assert len(root.findall(f"{ns}line")) == 2
    assert "gmv &lt;cny&gt;" in svg


def test_unknown_incident_and_bad_status(cmd: Command) -> None:
    with pytest.raises(NotFound):
        cmd.incidents.get(incident_id=99)
    inc = cmd.incidents.declare(title="t", commander="a", by="a")
    with pytest.raises(InvalidTransition, match="status must be"):
        cmd.incidents.set_status(incident_id=inc, status="closed", by="a")
    assert re.fullmatch(r"\d+", str(inc))
    assert [i["id"] for i in cmd.incidents.list(status="active")] == [inc]
