"""The wall's campaign cards in Debian's Chromium: progress against target and plan, the
behind-plan colour, and the paused badge once command pauses a campaign."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from test_api_support import Server, free_port
from test_campaigns_support import CAMPAIGNS_YAML, build_state
from warroom.campaigns.model import parse_file
from warroom.campaigns.service import CampaignBook
from warroom.command.tables import campaigns_t, create
from warroom.store.db import Store

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"
)


def test_cards_show_progress_plan_and_paused(tmp_path: Path) -> None:
    data = build_state(tmp_path)
    store = Store.open(data)
    CampaignBook(store).replace_all(parse_file(CAMPAIGNS_YAML))
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", port, data)
    srv.start("--open", "--tick", "0.5")
    problems: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{srv.url}/")
            page.wait_for_selector(".camp[data-campaign='c-01']", timeout=20_000)
            c01 = page.locator(".camp[data-campaign='c-01']")
            assert "behind" in (c01.get_attribute("class") or "")
            text = c01.inner_text()
            assert "Opening Bell" in text and "li.wei" in text and "44% of target" in text
            width = c01.locator(".fill").evaluate("e => e.style.width")
            plan = c01.locator(".plan").evaluate("e => e.style.left")
            assert width == "44.1%" and plan == "80.1%"
            cross = page.locator(".camp[data-campaign='cross-border']")
            assert cross.locator(".badge.overseas").is_visible()
            assert page.locator(".camp .badge.paused").count() == 0
            create(store.engine)  # what command's pause_campaign action writes
            with store.engine.begin() as c:
                c.execute(
                    sa.insert(campaigns_t).values(
                        campaign="c-01", state="paused", changed_ms=1, ref="r1"
                    )
                )
            page.wait_for_selector(".camp[data-campaign='c-01'] .badge.paused", timeout=20_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "wall-campaigns.png"))
            browser.close()
    finally:
        srv.stop()
    assert problems == []
