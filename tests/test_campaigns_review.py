"""`warroom review`: a self-contained report, checked as a person would, in Debian's
Chromium (Playwright); saves test-artifacts/review.png. The PDF comes from Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_api_support import T0
from test_campaigns_support import build_state
from warroom.browser import CHROMIUM, HEADLESS_ARGS

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ALERTS = [
    {"id": "a1", "state": "firing", "ts": T0 + 40_000, "source": "kpi", "metric": "orders",
     "scope": {"region": "CN-ZJ"}, "direction": "drop", "summary": "Orders in CN-ZJ dropped"},
    {"id": "a1", "state": "resolved", "ts": T0 + 95_000, "source": "kpi", "metric": "orders",
     "scope": {"region": "CN-ZJ"}, "direction": "drop", "summary": "Orders in CN-ZJ dropped"},
]  # fmt: skip


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("review")
    data = build_state(tmp)
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
    assert "Orders in CN-ZJ dropped" in text and "16:00:40" in text and "16:01:35" in text


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
