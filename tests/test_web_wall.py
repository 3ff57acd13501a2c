"""The wall page in Debian's Chromium (Playwright): loads clean, shows figures posted over
HTTP, reconnects after a server restart. Saves test-artifacts/wall.png."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from test_api_support import (
    T0,
    Server,
    auth,
    free_port,
    make_tokens,
    ndjson,
    order,
    payment,
    visit,
)
from warroom.browser import CHROMIUM, HEADLESS_ARGS

sync_api = pytest.importorskip("playwright.sync_api")
ARGS = list(HEADLESS_ARGS)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)"
)

PROVINCES = [
    "CN-GD",
    "CN-ZJ",
    "CN-JS",
    "CN-SH",
    "CN-BJ",
    "CN-SD",
    "CN-SC",
    "CN-HB",
    "CN-FJ",
    "CN-HA",
    "CN-HN",
    "CN-AH",
    "CN-LN",
    "CN-SN",
    "CN-CQ",
    "CN-YN",
    "CN-XJ",
    "CN-HL",
]
ABROAD = [("US-CA", "US"), ("JP-13", "JP"), ("GB-LND", "GB"), ("DE-BE", "DE"), ("AU-NSW", "AU")]
CATEGORIES = ["appliances", "electronics", "apparel", "beauty", "shoes", "grocery", "toys", "books"]


def market(start: int, seconds: int, per_second: int, seed: int, first: int) -> list[dict]:
    """A varied stream (regions, channels, categories, methods), ending with a record that
    moves event time far enough to finalise every window before it."""
    rng = random.Random(seed)
    recs: list[dict] = []
    n = first
    for s in range(seconds):
        for _ in range(rng.randint(per_second // 2, per_second)):
            ts = start + s * 1000 + rng.randrange(1000)
            if rng.random() < 0.85:
                region, country = rng.choice(PROVINCES), "CN"
            else:
                region, country = rng.choice(ABROAD)
            o = order(
                n,
                ts,
                price=f"{rng.randint(10, 900)}.{rng.randint(0, 99):02d}",
                qty=rng.randint(1, 3),
                region=region,
                channel=rng.choices(["app", "web", "mini", "other"], [6, 2, 2, 0.3])[0],
                category=rng.choices(CATEGORIES, [8, 7, 6, 5, 4, 3, 2, 1])[0],
            )
            o["country"] = country
            recs.append(o)
            p = payment(
                n,
                ts + 30,
                ok=rng.random() > 0.03,
                method=rng.choice(["alipay", "wechat", "card", "paypal"]),
            )
            p["amount"] = round(o["quantity"] * o["unit_price"], 2)
            recs.append(p)
            if rng.random() < 0.05:  # a few honest refunds, for the refund guard's figures
                recs.append(
                    {
                        "type": "refund",
                        "id": f"ev-r{n}",
                        "ts": ts + 500,
                        "refund_id": f"R{n}",
                        "order_id": o["order_id"],
                        "user_id": o["user_id"],
                        "merchant_id": o["merchant_id"],
                        "amount": o["unit_price"],
                        "currency": o["currency"],
                        "reason": "changed_mind",
                        "return_shipped": True,
                    }
                )
            n += 1
    recs.append(visit(first, start + (seconds + 8) * 1000))
    return recs


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    data = tmp_path_factory.mktemp("web") / "state"
    tokens = make_tokens(data)
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", port, data)
    srv.start("--open", "--tick", "0.5")
    try:
        yield srv, tokens
    finally:
        srv.stop()


def post(srv: Server, tokens: dict[str, str], recs: list[dict]) -> dict:
    r = httpx.post(
        f"{srv.url}/api/v1/ingest", content=ndjson(recs), headers=auth(tokens["ingest"]), timeout=60
    )
    assert r.status_code == 200, r.text
    return r.json()


def open_wall(browser: object, srv: Server, problems: list[str]):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})  # type: ignore[attr-defined]
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{srv.url}/")
    return page


def test_wall_loads_clean_and_shows_posted_figures(env, browser):
    srv, tokens = env
    problems: list[str] = []
    page = open_wall(browser, srv, problems)
    page.wait_for_function("window.__wall.frames > 0", timeout=15_000)
    for tile in ("#gmv", "#orders", "#pay-rate", "#refunds"):
        assert page.locator(tile).is_visible()
    assert page.locator("#gmv").inner_text().startswith("¥")

    recs = market(T0, 60, 40, seed=11, first=0)
    got = post(srv, tokens, recs)
    orders = [r for r in recs if r["type"] == "order"]
    gmv_cents = sum(round(o["unit_price"] * 100) * o["quantity"] for o in orders)
    expected = f"{gmv_cents // 100}.{gmv_cents % 100:02d}"
    assert got["accepted"] == len(recs)
    page.wait_for_function(
        f"document.querySelector('#gmv').dataset.exact === '{expected}'", timeout=15_000
    )
    shown = f"{len(orders):,}"
    page.wait_for_function(f"document.querySelector('#orders').textContent === '{shown}'")
    # the refund guard decided every refund: honest ones approved at once
    page.wait_for_function(
        "document.querySelector('#refund-guard').textContent.includes('auto 100.0% · held 0.00')",
        timeout=15_000,
    )
    page.wait_for_timeout(1500)  # let the counter settle and the charts draw
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "wall-laptop.png"), full_page=True)
    assert problems == []
    page.close()


def test_wall_reconnects_after_a_server_restart(env, browser):
    srv, tokens = env
    problems: list[str] = []
    page = open_wall(browser, srv, problems)
    page.wait_for_function("window.__wall.frames > 0", timeout=15_000)
    before = page.locator("#gmv").get_attribute("data-exact")
    srv.stop()
    page.wait_for_function(
        "!document.querySelector('#banner').hidden && "
        "document.querySelector('#banner').textContent.includes('Connection lost')",
        timeout=15_000,
    )
    srv.start("--open", "--tick", "0.5")
    recs = market(T0 + 120_000, 5, 20, seed=12, first=100_000)
    post(srv, tokens, recs)
    page.wait_for_function(
        f"document.querySelector('#gmv').dataset.exact !== '{before}'", timeout=20_000
    )
    page.wait_for_function(
        "(b => b.hidden || !b.textContent.includes('lost'))(document.querySelector('#banner'))",
        timeout=15_000,
    )
    time.sleep(0.2)
    # the browser logs the refused connections while the server is down; nothing else
    assert [p for p in problems if "ERR_CONNECTION_REFUSED" not in p] == []
    page.close()
