"""The review page in Debian's Chromium (Playwright): figures and held refunds with their
reasons; a commander rejects one and it leaves the queue. Saves test-artifacts/refunds.png."""

from __future__ import annotations

import httpx
import pytest

from test_api_support import auth, make_tokens, running_server
from test_refunds_decider import decode, ring_stream
from test_web_wall import ARTIFACTS, CHROMIUM
from warroom.guards.refunds.decider import RefundGuard
from warroom.guards.refunds.policy import load_policy
from warroom.guards.refunds.queue import ReviewQueue
from warroom.store.db import Store

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"
)


def test_a_reviewer_works_through_the_queue(tmp_path, browser):
    data = tmp_path / "state"
    tokens = make_tokens(data)
    guard = RefundGuard(load_policy())
    decisions = guard.process(decode(ring_stream()))
    held = [d for d in decisions if d.decision == "review"]
    store = Store.open(data)
    ReviewQueue(store.engine).record(decisions, policy="default", orders_seen=28)
    store.engine.dispose()
    with running_server(data) as srv:
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{srv.url}/wall/refunds.html#token={tokens['commander']}")
        rows = page.locator("#rf-rows tr")
        rows.first.wait_for(timeout=15_000)
        assert rows.count() == len(held)
        assert page.get_by_test_id("pending").inner_text() == str(len(held))
        assert page.get_by_test_id("held-amount").inner_text().endswith("CNY")
        assert "%" in page.get_by_test_id("auto-share").inner_text()
        assert "linked" in rows.first.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "refunds.png"), full_page=True)
        first = rows.first.get_attribute("data-refund")
        rows.first.locator("button[data-verdict=reject]").click()
        page.wait_for_function(
            f"!document.querySelector('#rf-rows tr[data-refund=\"{first}\"]')", timeout=10_000
        )
        r = httpx.get(f"{srv.url}/api/v1/refunds/{first}", headers=auth(tokens["viewer"]))
        assert r.json()["status"] == "rejected"
        assert r.json()["reviewer"].endswith("(commander)")
        assert not errors
