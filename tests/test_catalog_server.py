"""The catalog guard inside `warroom serve`: a snapshot given, sku_change records
ingested over HTTP make a finding in the API, in the alert book and on the wall."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from test_api_support import RATES, auth, make_tokens, running_server
from test_catalog_guard import T, busy_day, snap  # noqa: F401 - snap is a fixture
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings
from warroom.command.actions.shipping import held_orders, violations
from warroom.guards.catalog import execute
from warroom.guards.catalog.store import CatalogStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def body() -> bytes:
    return "".join(line + "\n" for line in busy_day().lines).encode()


def wait_for(fetch: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fetch()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_served_guard_finds_the_scramble(snap, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "state"
    tokens = make_tokens(data)
    (tmp_path / "rates.json").write_text(json.dumps(RATES))
    settings = ServeSettings(
        data_dir=data, rates=tmp_path / "rates.json", catalog=tmp_path / "catalog.ndjson"
    )
    app = create_app(settings)
    with TestClient(app) as client:
        viewer = auth(tokens["viewer"])
        r = client.post("/api/v1/ingest", content=body(), headers=auth(tokens["ingest"]))
        assert r.status_code == 200, r.text

        def listed() -> list[dict]:
            got = client.get("/api/v1/catalog/findings", headers=viewer).json()["findings"]
            # the firing finding is saved at once; its growing lists within 2 s or at stop
            return got

        (finding,) = wait_for(listed)
        alert = finding["alert"]
        assert alert["source"] == "catalog" and alert["state"] == "firing"
        assert len(alert["entities"]["merchants"]) == 12
        # the same alert reached the server's alert book (the wall's ticker)
        ctx = app.state.ctx
        book = wait_for(lambda: [a for a in ctx.alerts.recent(limit=20) if a["id"] == alert["id"]])
        assert book[0]["source"] == "catalog"
        frame = ctx.frame("tick")
        assert any(a["id"] == alert["id"] for a in frame["alerts"])
        (shown,) = frame["catalog"]["findings"]
        assert shown["id"] == alert["id"] and shown["kind"] == "sku_scramble"
        assert shown["skus"] == 48 and len(shown["merchants"]) == 12
        csv = client.get(shown["csv"], headers=viewer)
        assert csv.status_code == 200 and csv.text.startswith("finding_id,kind")

        # respond on the server's database; a shipment of a held order that arrives on
        # the stream is counted as a violation by the command layer's hook
        store = CatalogStore(ctx.store.engine)
        done = execute.respond(store, execute.open_command(store), apply=True, by="oncall")
        held = done["actions"][0]["orders"]
        assert held_orders(ctx.store.engine) == sorted(held) and held
        ship = {
            "type": "shipment",
            "id": "e-ship-held",
            "ts": T + 41_000,
            "order_id": held[0],
            "merchant_id": "m-0",
            "status": "shipped",
        }
        r = client.post(
            "/api/v1/ingest", content=json.dumps(ship) + "\n", headers=auth(tokens["ingest"])
        )
        assert r.status_code == 200, r.text
        (v,) = wait_for(lambda: violations(ctx.store.engine))
        assert v["order_id"] == held[0] and v["ref"] == execute.hold_ref(alert["id"])
    # at stop the last changes are saved: the complete blast radius, as `warroom catalog
    # check` finds it over the same stream (test_catalog_api: 69 orders, 2 shipped), and
    # the held order that shipped anyway
    app = create_app(ServeSettings(data_dir=data, rates=tmp_path / "rates.json"))
    with TestClient(app) as client:
        one = client.get(f"/api/v1/catalog/findings/{alert['id']}", headers=viewer).json()
        assert one["orders_shipped"] == sorted(["o-25", "o-26", held[0]])
        assert len(one["orders_not_shipped"]) == 66
        assert one["gmv_at_risk"] == 690_000
        csv = client.get(f"/api/v1/catalog/findings/{alert['id']}/blast.csv", headers=viewer)
        assert len(csv.text.splitlines()) == 1 + 69


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (make browser)")
def test_wall_shows_the_catalog_finding(snap, tmp_path: Path) -> None:  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_web_wall import ARGS, ARTIFACTS

    data = tmp_path / "state"
    tokens = make_tokens(data)
    catalog = str(tmp_path / "catalog.ndjson")
    with running_server(data, "--open", "--tick", "0.5", "--catalog", catalog) as srv:
        r = httpx.post(
            f"{srv.url}/api/v1/ingest", content=body(), headers=auth(tokens["ingest"]), timeout=60
        )
        assert r.status_code == 200, r.text
        problems: list[str] = []
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{srv.url}/")
            row = page.locator("[data-testid=catalog] .cat-row")
            row.first.wait_for(timeout=20_000)
            text = row.first.inner_text()
            assert "SKU scramble (mass)" not in text  # 48 changes: under the mass threshold
            assert "SKU scramble · 12 merchants · 48 SKUs · GMV at risk" in text
            assert "not shipped /" in text
            page.wait_for_function(
                "[...document.querySelectorAll('#alerts li')]"
                ".some(li => li.textContent.includes('SKU attributes scrambled'))",
                timeout=15_000,
            )
            href = row.first.locator("a", has_text="json").get_attribute("href")
            doc = httpx.get(f"{srv.url}{href}", timeout=10).json()
            assert doc["kind"] == "sku_scramble" and len(doc["skus"]) == 48
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "wall-catalog.png"))
            browser.close()
        assert problems == []
