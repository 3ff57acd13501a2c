"""The campaign routes: viewers read live progress, commanders define and change."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import pytest

from test_api_support import RATES, T0, auth, make_tokens
from test_campaigns_support import CAMPAIGNS_YAML, build_state
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings
from warroom.campaigns.model import parse_file
from warroom.campaigns.service import CampaignBook
from warroom.store.db import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NEW = {
    "id": "c-05",
    "name": "Home & Living",
    "commander": "liu.yang",
    "window": {"start": "2025-11-11T00:00:00", "end": "2025-11-11T01:00:00"},
    "scope": {"categories": ["shoes"]},
    "targets": {"orders": 1000},
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("campapi")
    data = build_state(tmp)
    CampaignBook(Store.open(data)).replace_all(parse_file(CAMPAIGNS_YAML))
    tokens = make_tokens(data)
    (tmp / "rates.json").write_text(json.dumps(RATES))
    settings = ServeSettings(data_dir=data, rates=tmp / "rates.json", tick_seconds=0.1)
    app = create_app(settings)
    with TestClient(app) as c:
        yield c, tokens, app


def test_list_and_one_with_live_progress(env) -> None:
    c, tokens, _app = env
    viewer = auth(tokens["viewer"])
    r = c.get("/api/v1/campaigns", headers=viewer)
    assert r.status_code == 200, r.text
    got = {x["id"]: x for x in r.json()["campaigns"]}
    assert set(got) == {"c-01", "cross-border"}
    one = got["c-01"]
    # the server's event time is the end of the last finalised second: 00:05:01
    assert one["orders"] == 21 and one["gmv"] == "441.00" and one["commander"] == "li.wei"
    assert one["behind"] is True and one["paused"] is False and one["status"] == "live"
    assert got["cross-border"]["overseas"] is True
    r = c.get("/api/v1/campaigns/c-01", headers=viewer)
    body = r.json()
    assert body["series"][-1]["actual"] == pytest.approx(441.0)
    assert body["series"][-1]["planned"] > body["series"][0]["planned"]
    assert body["hours"][0]["hour"] == "00:00"
    r = c.get("/api/v1/campaigns/nope", headers=viewer)
    assert r.status_code == 404 and r.json()["error"]["field"] == "campaign_id"
    alerts = {
        a["scope"]["campaign"]: a for a in c.get("/api/v1/campaigns/alerts", headers=viewer).json()
    }
    assert alerts["c-01"]["source"] == "kpi" and alerts["c-01"]["ts"] == T0 + 301_000
    # 3 cross-border orders against a linear plan of 10 x 301/600 = 5.02 by now
    assert alerts["cross-border"]["metric"] == "orders"
    assert alerts["cross-border"]["expected"] == pytest.approx(10 * 301 / 600, abs=1e-6)


def test_commander_defines_and_changes_viewer_may_not(env) -> None:
    c, tokens, _app = env
    viewer, commander = auth(tokens["viewer"]), auth(tokens["commander"])
    assert c.post("/api/v1/campaigns", json=NEW, headers=viewer).status_code == 403
    r = c.post("/api/v1/campaigns", json=NEW, headers=commander)
    assert r.status_code == 200 and r.json() == {"id": "c-05", "created": True}
    got = c.get("/api/v1/campaigns/c-05", headers=viewer).json()
    # shoes is every test order's category: 20 + 20 + 20 + 1 + 4 = 65 orders in the window
    # by 00:05:01 (the two before 00:00 are outside it)
    assert got["orders"] == 65 and got["targets"]["orders"]["target"] == 1000
    bad = {**NEW, "targets": {"orders": 0}}
    r = c.put("/api/v1/campaigns/c-05", json=bad, headers=commander)
    assert r.status_code == 422
    assert "body: targets.orders: Input should be greater than 0" in r.json()["error"]["message"]
    r = c.put("/api/v1/campaigns/c-05", json={**NEW, "commander": "li.na"}, headers=commander)
    assert r.status_code == 200 and r.json()["created"] is False
    assert c.get("/api/v1/campaigns/c-05", headers=viewer).json()["commander"] == "li.na"
    assert c.put("/api/v1/campaigns/c-99", json=NEW, headers=commander).status_code == 422
    audit = c.get("/api/v1/audit", params={"limit": 100}, headers=auth(tokens["admin"])).json()
    assert {"campaign.create", "campaign.update"} <= {a["action"] for a in audit}


def test_wall_frame_carries_campaign_cards(env) -> None:
    _c, _tokens, app = env
    ctx = app.state.ctx

    deadline = time.monotonic() + 10
    cards: list = []
    while time.monotonic() < deadline and not cards:
        cards = ctx.frame("tick")["campaigns"]
        time.sleep(0.1)
    by_id = {x["id"]: x for x in cards}
    assert by_id["c-01"]["behind"] is True and by_id["c-01"]["commander"] == "li.wei"
    assert by_id["c-01"]["progress"] == pytest.approx(0.441)
    assert by_id["cross-border"]["regions"] == ["US-CA", "JP-13"]


def test_no_campaigns_no_cards(tmp_path: Path) -> None:
    (tmp_path / "rates.json").write_text(json.dumps(RATES))
    settings = ServeSettings(data_dir=tmp_path / "state", rates=tmp_path / "rates.json")
    app = create_app(settings)
    assert app.state.ctx.frame("tick")["campaigns"] == []
    shutil.rmtree(tmp_path / "state", ignore_errors=True)
