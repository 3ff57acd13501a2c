"""Money per currency on the wall, in Debian's Chromium (Playwright): the by-currency panel
shows each currency's exact amounts in its own units beside the base; choosing a currency
shows the GMV actually paid in it; overseas regions are listed by the world map; a
cross-border campaign card carries its regions and currencies. Saves
test-artifacts/wall-currencies.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from test_api_support import Server, auth, free_port, make_tokens, ndjson
from test_campaigns_support import CURRENCY_CAMPAIGNS_YAML, currency_day
from warroom.browser import CHROMIUM, HEADLESS_ARGS
from warroom.campaigns.model import parse_file
from warroom.campaigns.service import CampaignBook
from warroom.store.db import Store

sync_api = pytest.importorskip("playwright.sync_api")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"
)
# (currency, GMV, payments, refunds, GMV in CNY, share): see currency_day()
EXPECTED = [
    ["USD", "24.73", "24.68", "0.00", "176.96", "72.36%"],
    ["JPY", "1,000", "1,000", "500", "46.58", "19.05%"],
    ["CNY", "21.00", "21.00", "0.00", "21.00", "8.59%"],
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("wallcur") / "state"
    tokens = make_tokens(data)
    CampaignBook(Store.open(data)).replace_all(parse_file(CURRENCY_CAMPAIGNS_YAML))
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", port, data)
    srv.start("--open", "--tick", "0.5")
    try:
        r = httpx.post(
            f"{srv.url}/api/v1/ingest",
            content=ndjson(currency_day()),
            headers=auth(tokens["ingest"]),
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["accepted"] == len(currency_day()), r.text
        yield srv
    finally:
        srv.stop()


def test_per_currency_panel_selector_regions_and_cards(server: Server) -> None:
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(HEADLESS_ARGS))
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{server.url}/")
        page.wait_for_function(
            "document.querySelector('#gmv').dataset.exact === '244.54'", timeout=20_000
        )
        assert page.locator("#by-currency").is_hidden()  # on demand only
        page.click("#by-currency-btn")
        page.wait_for_selector("#currency-rows tr[data-currency='CNY']", timeout=10_000)
        cells = page.locator("#currency-rows tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        assert cells == EXPECTED
        assert page.locator("#currency-base").text_content() == "GMV in CNY"
        total = page.locator("#currency-total td").all_inner_texts()
        assert total[0] == "all, in CNY" and total[-2:] == ["244.54", "100%"]

        # choosing USD: the counter shows what was paid in USD, exactly, and says so
        page.select_option("#currency", "USD")
        page.wait_for_function("document.querySelector('#gmv').textContent === 'USD 24.73'")
        note = page.locator("#gmv-note").inner_text()
        assert note.startswith(
            "GMV of the orders in USD only, exact, in USD (payments received USD 24.68) · "
            "72.36% of GMV"
        )
        assert "all currencies ≈ USD" in note and "converted from CNY" in note
        assert page.locator("#currency-rows tr.chosen").get_attribute("data-currency") == "USD"
        page.locator("#currency-rows tr[data-currency='JPY']").click()  # a row chooses too
        page.wait_for_function("document.querySelector('#gmv').textContent === 'JPY 1,000'")
        assert page.locator("#currency").input_value() == "JPY"

        # overseas regions are listed beside the world map (not only shaded)
        listed = page.locator("#overseas li").evaluate_all("ls => ls.map(l => l.dataset.region)")
        assert listed == ["US-CA", "JP-13", "US-NY"]
        assert "California" in page.locator("#overseas li[data-region='US-CA']").inner_text()

        # the cross-border card: its regions and its currencies, each in its own units
        card = page.locator(".camp[data-campaign='cx-abroad']")
        card.wait_for(timeout=20_000)
        page.wait_for_function(
            "document.querySelector(\".camp[data-campaign='cx-abroad'] .camp-currencies\")"
        )
        assert card.locator(".camp-currencies").inner_text() == "USD 24.68 · JPY 1,000 · CNY 21.00"
        assert card.locator(".camp-regions").inner_text().startswith("US-CA ")
        assert "JP-13" in card.locator(".camp-regions").inner_text()
        assert page.locator(".camp[data-campaign='cx'] .camp-currencies").count() == 0

        page.select_option("#currency", "CNY")
        page.wait_for_function("document.querySelector('#gmv').textContent === '¥ 244.54'")
        assert page.locator("#gmv-note").inner_text().startswith("exact, CNY")
        page.wait_for_timeout(800)  # let the charts draw
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wall-currencies.png"))
        page.keyboard.press("Escape")
        assert page.locator("#by-currency").is_hidden()
        browser.close()
    assert problems == []
