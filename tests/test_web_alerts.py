"""The wall's ticker in Chromium (Playwright) shows real alerts: one opened through
Alertmanager's webhook, and one the watch raises from ingested events."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from test_api_alerts import am_alert, am_body, dark_day
from test_api_support import Server, auth, free_port, make_tokens, ndjson
from warroom.browser import CHROMIUM, HEADLESS_ARGS

sync_api = pytest.importorskip("playwright.sync_api")

ARGS = list(HEADLESS_ARGS)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    data = tmp_path_factory.mktemp("web-alerts") / "state"
    tokens = make_tokens(data)
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", port, data)
    srv.start("--open", "--tick", "0.3")
    try:
        yield srv, tokens
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def page(env) -> Iterator[object]:
    srv, _ = env
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1920, "height": 1080})
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.goto(f"{srv.url}/")
        pg.wait_for_function("window.__wall.frames > 0", timeout=15_000)
        yield pg
        assert problems == []
        browser.close()


def ticker(page: object) -> list[str]:
    return page.locator("#alerts li").all_inner_texts()  # type: ignore[attr-defined]


def test_an_alertmanager_alert_appears_on_the_ticker(env, page):
    srv, tokens = env
    assert ticker(page) == ["No alerts — all quiet"]
    body = am_body(am_alert("wall1", region="CN-GD"))
    r = httpx.post(
        f"{srv.url}/api/v1/alerts/alertmanager", json=body, headers=auth(tokens["ingest"])
    )
    assert r.status_code == 200, r.text
    item = page.locator("#alerts li", has_text="5xx above 5 % (wall1)")  # type: ignore[attr-defined]
    item.wait_for(timeout=10_000)
    assert item.get_attribute("class") == "sev-critical"
    assert item.inner_text().startswith("▲")

    resolved = am_body(am_alert("wall1", "resolved", region="CN-GD"))
    httpx.post(
        f"{srv.url}/api/v1/alerts/alertmanager", json=resolved, headers=auth(tokens["ingest"])
    )
    page.locator("#alerts li", has_text="✓ 5xx above 5 % (wall1)").wait_for(timeout=10_000)  # type: ignore[attr-defined]


def test_the_watch_on_ingested_events_reaches_the_ticker(env, page):
    srv, tokens = env
    recs = dark_day()
    for i in range(0, len(recs), 20_000):
        r = httpx.post(
            f"{srv.url}/api/v1/ingest",
            content=ndjson(recs[i : i + 20_000]),
            headers=auth(tokens["ingest"]),
            timeout=60,
        )
        assert r.status_code == 200, r.text
    item = page.locator("#alerts li", has_text="orders drop in region=CN-ZJ")  # type: ignore[attr-defined]
    item.wait_for(timeout=30_000)
    shown = httpx.get(f"{srv.url}/api/v1/alerts", params={"source": "kpi"}).json()["alerts"]
    assert any(a["scope"].get("region") == "CN-ZJ" and a["metric"] == "orders" for a in shown)
