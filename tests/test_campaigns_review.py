"""`warroom review`: a self-contained report, checked as a person would, in Debian's
Chromium (Playwright); saves test-artifacts/review.png. The PDF comes from Chromium.
Incidents and their timelines come from the command layer's tables in the same store;
money is also shown per currency, and the rates table used is printed as recorded."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_api_support import RATES, T0
from test_campaigns_support import CURRENCY_CAMPAIGNS_YAML, build_currency_state, build_state
from warroom.browser import CHROMIUM, HEADLESS_ARGS
from warroom.campaigns.model import parse_file
from warroom.campaigns.review import render
from warroom.command.clock import FakeClock
from warroom.command.service import Command
from warroom.store.db import Store

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ALERTS = [
    {"id": "a1", "state": "firing", "ts": T0 + 40_000, "source": "kpi", "metric": "orders",
     "scope": {"region": "CN-ZJ"}, "direction": "drop", "summary": "Orders in CN-ZJ dropped"},
    {"id": "a1", "state": "resolved", "ts": T0 + 95_000, "source": "kpi", "metric": "orders",
     "scope": {"region": "CN-ZJ"}, "direction": "drop", "summary": "Orders in CN-ZJ dropped"},
]  # fmt: skip


INCIDENT_ALERT = {
    "id": "kpi-9", "state": "firing", "ts": T0 + 50_000, "source": "kpi", "metric": "gmv",
    "scope": {"campaign": "c-01"}, "direction": "drop", "severity": "critical",
    "summary": "GMV of c-01 fell 60% below expected",
}  # fmt: skip


def declare_incidents(data: Path) -> None:
    """What command does during the day: one incident from an alert, worked and resolved
    (its timeline), and one declared by hand and still open."""
    clock = FakeClock(T0 + 50_000)  # event time, as the server's command clock runs
    cmd = Command.open(engine=Store.open(data).engine, clock=clock, audit_clock=clock)
    inc = cmd.incidents.declare_from_alert(alert=INCIDENT_ALERT, commander="li.wei", by="wendy")
    clock.advance(20)
    cmd.incidents.assign(incident_id=inc, role="scribe", person="sam", by="li.wei")
    clock.advance(40)
    cmd.incidents.set_status(incident_id=inc, status="mitigated", by="li.wei", note="coupon fixed")
    clock.advance(130)
    cmd.incidents.resolve(incident_id=inc, by="li.wei", note="GMV back on plan")
    cmd.incidents.declare(title="Slow checkout in JP-13", commander="emma.jones", by="emma.jones")


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("review")
    data = build_state(tmp)
    declare_incidents(data)
    (tmp / "alerts.ndjson").write_text("".join(json.dumps(a) + "\n" for a in ALERTS))
    out, pdf = tmp / "review.html", tmp / "review.pdf"
    args = ["--data", str(data), "--campaigns", str(tmp / "campaigns.yaml"), "--out", str(out)]
    args += ["--alerts", str(tmp / "alerts.ndjson")]
    if CHROMIUM.exists():
        args += ["--pdf", str(pdf)]
    done = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "review", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    return out, pdf, done


def test_review_is_self_contained_and_says_who_won(report) -> None:
    out, _pdf, done = report
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # no CDN, no fetches
    assert text.count('<section class="campaign"') == 2 and text.count("<svg") >= 4
    # the hand figures: 441.00 of a 1,000 gmv target by 00:05:01; refunds 2 of 21 orders
    assert "Opening Bell missed its gmv target: 441 CNY of 1,000 (44%)." in text
    assert "Refund rate 9.5%, over the 5% ceiling." in text
    # the --alerts file is an extra table beside the incidents
    assert "Alerts (from --alerts)" in text
    assert "Orders in CN-ZJ dropped" in text and "16:00:40" in text and "16:01:35" in text


def test_review_lists_the_stores_incidents_with_their_timelines(report) -> None:
    out, _pdf, done = report
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    blocks = re.findall(r'<div class="incident (\w+)" id="incident-(\d+)">(.*?)</div>', text)
    assert [(status, n) for status, n, _ in blocks] == [("resolved", "1"), ("active", "2")]
    first, second = blocks[0][2], blocks[1][2]
    assert "#1 GMV of c-01 fell 60% below expected" in first
    # declared 16:00:50 UTC from the alert, resolved 190 s later; its roles
    assert "declared 16:00:50 UTC from alert:kpi-9" in first
    assert "resolved 16:04:00 (3m 10s)" in first and "scribe sam" in first
    timeline = re.findall(r"<tr><td>(\d\d:\d\d:\d\d)</td><td>(\w+)</td><td>([^<]*)</td>", first)
    assert timeline == [
        ("16:00:50", "decision", "wendy"),
        ("16:00:50", "alert", "source:kpi"),
        ("16:01:10", "decision", "li.wei"),
        ("16:01:50", "status", "li.wei"),
        ("16:04:00", "status", "li.wei"),
    ]
    assert "coupon fixed" in first and "GMV back on plan" in first
    assert "Slow checkout in JP-13" in second and "resolved open" in second


def test_review_per_currency_and_the_rates_used(tmp_path: Path) -> None:
    data = build_currency_state(tmp_path)
    html = render(Store.open(data), parse_file(CURRENCY_CAMPAIGNS_YAML))
    # the market by currency, each in its own units beside the base (the closed minutes)
    market = html[html.index("<h3>By currency</h3>") : html.index("<h2>Campaigns</h2>")]
    rows = re.findall(r"<tr><td>([A-Z]{3})</td><td>([^<]*)</td><td>([^<]*)</td>", market)
    assert rows == [
        ("USD", "24.73", "176.96"),
        ("JPY", "1,000", "46.58"),
        ("CNY", "21.00", "21.00"),
    ]
    assert "<td>500</td>" in market  # refunded in JPY, no minor digits
    # per campaign: the cross-border one says its currencies cover the whole campaign
    abroad = html[html.index('id="cx-abroad"') :]
    assert "GMV by currency (every order of campaign cx in the window" in abroad
    assert "GMV by region (CNY): US-CA 176.60 · JP-13 46.58" in abroad
    cx = html[html.index('id="cx"') : html.index('id="cx-abroad"')]
    assert "GMV by currency (the campaign&#x27;s scope)" in cx
    assert "<tr><td>USD</td><td>24.68</td><td>176.60</td><td>72.3%</td>" in cx
    # the rates table used, exactly as recorded with the run
    rates = html[html.index('id="rates"') :]
    assert "<tr><td>JPY</td><td>0.046582</td><td>0</td></tr>" in rates
    assert "<tr><td>USD</td><td>7.1556</td><td>2</td></tr>" in rates
    assert json.dumps(RATES).replace('"', "&quot;") in rates


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)")
def test_review_renders_in_chromium_and_prints_to_pdf(report) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    out, pdf, done = report
    assert done.returncode == 0, done.stderr
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(HEADLESS_ARGS))
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "request", lambda r: problems.append(r.url) if not r.url.startswith("file:") else None
        )
        page.goto(out.as_uri())
        card = page.locator("section#c-01")
        assert card.is_visible()
        assert "li.wei" in card.inner_text()
        chart = card.locator("svg.chart").first.bounding_box()
        assert chart is not None and chart["width"] > 300 and chart["height"] > 80
        # the actual line is drawn inside its chart, below the target line
        line = card.locator("polyline.actual").bounding_box()
        assert line is not None and line["width"] > 100
        assert page.locator("section#cross-border .badge.overseas").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
        browser.close()
    assert problems == []
