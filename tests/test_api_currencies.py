"""Money per currency through the API and the wall's frame: each currency's amounts in its
own units, exact, beside the base equivalent; the rates table recorded with the run.
Every figure is checked against the hand-computed stream of `currency_day`."""

from __future__ import annotations

import json
import time
import warnings

import pytest

from test_api_support import RATES, auth, make_tokens
from test_campaigns_support import CURRENCY_CAMPAIGNS_YAML, build_currency_state
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings
from warroom.campaigns.model import parse_file
from warroom.campaigns.service import CampaignBook
from warroom.store.db import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# base minor units, each record converted once (half-even): 24.68 USD x 7.1556 = 176.600208,
# 0.05 USD = 0.35778, 1000 JPY x 0.046582 = 46.582, 500 JPY = 23.291
USD_BASE, JPY_BASE, CNY_BASE = 17_660 + 36, 4_658, 2_100
TOTAL = USD_BASE + JPY_BASE + CNY_BASE  # 244.54


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("currencies")
    data = build_currency_state(tmp)
    CampaignBook(Store.open(data)).replace_all(parse_file(CURRENCY_CAMPAIGNS_YAML))
    tokens = make_tokens(data)
    settings = ServeSettings(data_dir=data, rates=tmp / "rates.json", tick_seconds=0.1)
    app = create_app(settings)
    with TestClient(app) as c:
        yield c, auth(tokens["viewer"]), app, tmp


def rows(c: TestClient, viewer: dict, **params: str) -> dict[tuple, str]:
    r = c.get("/api/v1/slice", params=params, headers=viewer)
    assert r.status_code == 200, r.text
    by = params["by"].split(",")
    out = {tuple(row[d] for d in by): row["value"] for row in r.json()["rows"]}
    if "currency" in by:  # visits carry no currency, and no money
        assert out.pop(("unknown",) * len(by), "0.00") == "0.00"
    return out


def test_slices_per_currency_in_its_own_units(env) -> None:
    c, viewer, _app, _tmp = env
    assert rows(c, viewer, metric="gmv_local", by="currency") == {
        ("USD",): "24.73",
        ("JPY",): "1000",
        ("CNY",): "21.00",
    }
    assert rows(c, viewer, metric="payment_amount_local", by="currency") == {
        ("USD",): "24.68",  # the failed 0.05 USD payment is not money received
        ("JPY",): "1000",
        ("CNY",): "21.00",
    }
    assert rows(c, viewer, metric="refund_amount_local", by="currency")[("JPY",)] == "500"
    # the base-currency view of the same slice: each record converted once
    assert rows(c, viewer, metric="gmv", by="currency") == {
        ("USD",): "176.96",
        ("JPY",): "46.58",
        ("CNY",): "21.00",
    }
    assert rows(c, viewer, metric="gmv_local", by="campaign,currency") == {
        ("cx", "USD"): "24.68",
        ("cx", "JPY"): "1000",
        ("cx", "CNY"): "21.00",
        ("unknown", "USD"): "0.05",
    }
    # a filter on the currency is enough; a sum across currencies is refused
    assert rows(c, viewer, metric="gmv_local", by="campaign", filter="currency:USD") == {
        ("cx",): "24.68",
        ("unknown",): "0.05",
    }
    r = c.get("/api/v1/slice", params={"metric": "gmv_local", "by": "region"}, headers=viewer)
    assert r.status_code == 422 and r.json()["error"]["field"] == "by"
    r = c.get(
        "/api/v1/series",
        params={"metric": "refund_amount_local", "by": "currency", "every": "1m"},
        headers=viewer,
    )
    got = {(p["currency"], p["value"]) for p in r.json()["points"] if p["value"] != "0"}
    assert ("JPY", "500") in got


def test_rates_recorded_with_the_run(env) -> None:
    c, viewer, _app, tmp = env
    r = c.get("/api/v1/rates", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["base"] == "CNY" and body["base_digits"] == 2
    assert {x["currency"]: (x["rate"], x["digits"]) for x in body["rates"]} == {
        "CNY": ("1", 2),
        "JPY": ("0.046582", 0),
        "USD": ("7.1556", 2),
    }
    assert body["source_text"] == (tmp / "rates.json").read_text() == json.dumps(RATES)
    assert "round_half_even" in body["rule"]
    assert c.get("/api/v1/rates").status_code == 401


def test_wall_frame_per_currency(env) -> None:
    _c, _viewer, app, _tmp = env
    frame = app.state.ctx.frame("snapshot")
    assert frame["totals"]["gmv"] == "244.54"
    got = {r["currency"]: r for r in frame["currencies"]}
    assert [r["currency"] for r in frame["currencies"]] == ["USD", "JPY", "CNY"]  # by base GMV
    usd, jpy, cny = got["USD"], got["JPY"], got["CNY"]
    assert (usd["gmv"], usd["payments"], usd["refunds"]) == ("24.73", "24.68", "0.00")
    assert (usd["gmv_base"], usd["payments_base"], usd["orders"]) == ("176.96", "176.60", 2)
    assert (jpy["gmv"], jpy["payments"], jpy["refunds"], jpy["digits"]) == (
        "1000",
        "1000",
        "500",
        0,
    )
    assert (jpy["gmv_base"], jpy["refunds_base"]) == ("46.58", "23.29")
    assert (cny["gmv"], cny["gmv_base"]) == ("21.00", "21.00")
    assert usd["share"] == round(USD_BASE / TOTAL, 6) and jpy["share"] == round(JPY_BASE / TOTAL, 6)
    assert frame["rates"]["USD"]["text"] == "7.1556"
    # overseas regions reach the wall (the list beside the world map), not only provinces
    regions = {r["key"]: r["gmv"] for r in frame["dims"]["region"]}
    assert regions == {"US-CA": "176.60", "JP-13": "46.58", "CN-ZJ": "21.00", "US-NY": "0.36"}


def test_campaigns_per_currency_and_region(env) -> None:
    c, viewer, app, _tmp = env
    got = {x["id"]: x for x in c.get("/api/v1/campaigns", headers=viewer).json()["campaigns"]}
    cx = got["cx"]
    assert cx["gmv"] == "244.18"
    cur = cx["by_currency"]
    assert cur["covers"] == "scope"
    assert [
        (r["currency"], r["gmv"], r["gmv_base"], r["payments"], r["refunds"]) for r in cur["rows"]
    ] == [
        ("USD", "24.68", "176.60", "24.68", "0.00"),
        ("JPY", "1000", "46.58", "1000", "500"),
        ("CNY", "21.00", "21.00", "21.00", "0.00"),
    ]
    assert cur["rows"][0]["share"] == round(17_660 / 24_418, 6)
    assert [(r["region"], r["gmv"]) for r in cx["by_region"]] == [
        ("US-CA", "176.60"),
        ("JP-13", "46.58"),
        ("CN-ZJ", "21.00"),
    ]
    abroad = got["cx-abroad"]
    assert abroad["gmv"] == "223.18"  # the two overseas regions of cx
    # no grouping set keeps campaign, region and currency: the whole campaign, said so
    assert abroad["by_currency"]["covers"] == "campaign"
    assert "every order of campaign cx" in abroad["by_currency"]["note"]
    assert [r["gmv"] for r in abroad["by_currency"]["rows"]] == ["24.68", "1000", "21.00"]
    assert [(r["region"], r["gmv"]) for r in abroad["by_region"]] == [
        ("US-CA", "176.60"),
        ("JP-13", "46.58"),
    ]
    one = c.get("/api/v1/campaigns/cx-abroad", headers=viewer).json()
    assert one["by_currency"] == abroad["by_currency"]
    # the wall's cards: a cross-border card carries its regions and currencies
    ctx = app.state.ctx
    deadline = time.monotonic() + 10
    cards: list = []
    while time.monotonic() < deadline and len(cards) < 2:
        cards = ctx.frame("tick")["campaigns"]
        time.sleep(0.1)
    by_id = {x["id"]: x for x in cards}
    card = by_id["cx-abroad"]
    assert [r["region"] for r in card["by_region"]] == ["US-CA", "JP-13"]
    assert [r["currency"] for r in card["by_currency"]["rows"]] == ["USD", "JPY", "CNY"]
    assert "by_currency" not in by_id["cx"]  # not cross-border: the card stays small
