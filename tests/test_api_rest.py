"""REST: ingest counts, figures after ingest, drill-down, errors in one shape, audit."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_api_support import RATES, T0, auth, make_tokens, ndjson, order, payment, visit
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def settings(data: Path, **kw: object) -> ServeSettings:
    rates = data.parent / "rates.json"
    rates.write_text(json.dumps(RATES))
    return ServeSettings(data_dir=data, rates=rates, checkpoint_seconds=0.2, **kw)  # type: ignore[arg-type]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    data = tmp_path / "state"
    tokens = make_tokens(data)
    with TestClient(create_app(settings(data, max_body_bytes=64_000))) as client:
        yield client, tokens


def day(n_orders: int = 30) -> list[dict]:
    """Orders and payments over 10 s, then a visit 10 s later that closes those windows."""
    recs: list[dict] = []
    for i in range(n_orders):
        ts = T0 + i * 10_000 // n_orders
        recs.append(
            order(i, ts, region="CN-ZJ" if i % 3 else "CN-GD", channel="app" if i % 2 else "web")
        )
        recs.append(payment(i, ts + 50, ok=i % 5 != 0, method="card" if i % 2 else "alipay"))
    recs.append(visit(0, T0 + 20_000))
    return recs


def test_ingest_answers_counts_and_updates_figures(api):
    client, tokens = api
    body = ndjson(day()) + b'{"type": "order", "id": "bad"}\nnot json\n'
    r = client.post("/api/v1/ingest", content=body, headers=auth(tokens["ingest"]))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["records"] == 63
    assert got["accepted"] == 61
    assert got["quarantined"] == 2
    assert {q["line"] for q in got["reasons"]} == {62, 63}
    # the same batch again: every valid record is a duplicate
    again = client.post("/api/v1/ingest", content=body, headers=auth(tokens["ingest"])).json()
    assert (again["accepted"], again["duplicates"], again["quarantined"]) == (0, 61, 2)

    view = auth(tokens["viewer"])
    top = client.get("/api/v1/top", params={"by": "region", "metric": "gmv"}, headers=view).json()
    # 30 orders of 2 x 10.50: 10 in CN-GD (i % 3 == 0), 20 in CN-ZJ
    assert top["rows"] == [
        {"region": "CN-ZJ", "value": "420.00"},
        {"region": "CN-GD", "value": "210.00"},
    ]
    series = client.get(
        "/api/v1/series", params={"metric": "orders", "every": "1s"}, headers=view
    ).json()
    assert sum(int(p["value"]) for p in series["points"]) == 30
    rate = client.get(
        "/api/v1/slice", params={"metric": "payment_success_rate", "by": "method"}, headers=view
    ).json()
    rates = {r["method"]: float(r["value"]) for r in rate["rows"] if r["value"] is not None}
    # failed: i % 5 == 0, i.e. 0, 10, 20 (alipay, even) and 5, 15, 25 (card, odd)
    assert rates == {"card": pytest.approx(12 / 15), "alipay": pytest.approx(12 / 15)}
    q = client.get("/api/v1/quarantine", headers=view).json()["records"]
    assert len(q) == 4 and q[0]["source"].startswith("http:") and q[1]["raw"] == "not json"
    wall = client.get("/api/v1/wall", headers=view).json()
    assert wall["totals"]["gmv"] == "630.00" and wall["totals"]["orders"] == 30
    assert wall["status"]["counters"]["duplicates"] == 61


def test_drill_down_filter_on_a_dimension_outside_by(api):
    client, tokens = api
    client.post("/api/v1/ingest", content=ndjson(day()), headers=auth(tokens["ingest"]))
    view = auth(tokens["viewer"])
    r = client.get(
        "/api/v1/slice",
        params={"metric": "orders", "by": "channel", "filter": "region:CN-GD"},
        headers=view,
    )
    assert r.status_code == 200, r.text
    # CN-GD holds i = 0, 3, ..., 27: even i -> web (5), odd -> app (5)
    assert sorted((x["channel"], x["value"]) for x in r.json()["rows"]) == [
        ("app", "5"),
        ("web", "5"),
    ]
    s = client.get(
        "/api/v1/series",
        params={"metric": "gmv", "by": "channel", "filter": ["region:CN-GD", "channel:web"]},
        headers=view,
    ).json()
    assert {p["channel"] for p in s["points"]} == {"web"}
    assert sum(float(p["value"]) for p in s["points"]) == pytest.approx(5 * 21.0)


def assert_error(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert set(body["error"]) <= {"code", "message", "field"}
    if field is not None:
        assert body["error"]["field"] == field
    return body["error"]


def test_every_error_has_one_shape(api):
    client, tokens = api
    view = auth(tokens["viewer"])
    assert_error(client.get("/api/v1/nothing-here", headers=view), 404)
    assert_error(client.delete("/api/v1/series", headers=view), 405)
    assert_error(
        client.get("/api/v1/series", params={"metric": "nope"}, headers=view), 422, "metric"
    )
    assert_error(client.get("/api/v1/series", params={"every": "2s"}, headers=view), 422, "every")
    assert_error(
        client.get("/api/v1/series", params={"by": "region,method,channel"}, headers=view),
        422,
        "by",
    )
    assert_error(
        client.get("/api/v1/series", params={"filter": "colour:red"}, headers=view), 422, "filter"
    )
    assert_error(client.get("/api/v1/top", params={"by": "region", "n": 0}, headers=view), 422, "n")
    assert_error(client.get("/api/v1/series"), 401)
    assert_error(client.get("/api/v1/series", headers=auth("wr_nope_nope")), 401)
    assert_error(client.get("/api/v1/series", headers=auth(tokens["ingest"])), 403)
    big = b"x" * 70_000
    assert_error(client.post("/api/v1/ingest", content=big, headers=auth(tokens["ingest"])), 413)
    assert_error(
        client.post("/api/v1/tokens", json={"role": "god"}, headers=auth(tokens["admin"])),
        422,
        "role",
    )


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    data = tmp_path / "state"
    tokens = make_tokens(data)
    with TestClient(create_app(settings(data, ingest_records_per_second=100))) as client:
        body = ndjson([order(i, T0 + i) for i in range(80)])
        ok = client.post("/api/v1/ingest", content=body, headers=auth(tokens["ingest"]))
        assert ok.status_code == 200
        r = client.post("/api/v1/ingest", content=body, headers=auth(tokens["ingest"]))
        err = assert_error(r, 429)
        assert err["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1


def test_denials_are_audited_and_tokens_are_managed(api):
    client, tokens = api
    client.post("/api/v1/alerts/a1/ack", headers=auth(tokens["viewer"]))
    client.get("/api/v1/status")
    admin = auth(tokens["admin"])
    denied = client.get("/api/v1/audit", params={"result": "denied"}, headers=admin).json()
    assert {(d["action"], d["target"]) for d in denied} >= {
        ("acknowledge", "POST /api/v1/alerts/a1/ack"),
        ("read", "GET /api/v1/status"),
    }
    made = client.post("/api/v1/tokens", json={"role": "watcher", "name": "ops"}, headers=admin)
    assert made.status_code == 201
    new = made.json()
    assert client.get("/api/v1/status", headers=auth(new["token"])).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert new["id"] in {t["id"] for t in listed} and all("token" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{new['id']}", headers=admin).status_code == 200
    assert client.get("/api/v1/status", headers=auth(new["token"])).status_code == 401


def test_settings_broadcast_and_metrics(api):
    client, tokens = api
    r = client.patch(
        "/api/v1/settings", json={"stale_after_seconds": 3}, headers=auth(tokens["admin"])
    )
    assert r.json()["stale_after_seconds"] == 3
    b = client.post(
        "/api/v1/broadcast",
        json={"message": "card payments degraded"},
        headers=auth(tokens["commander"]),
    )
    assert b.status_code == 200
    wall = client.get("/api/v1/wall", headers=auth(tokens["viewer"])).json()
    assert wall["broadcast"]["message"] == "card payments degraded"
    client.post("/api/v1/ingest", content=ndjson(day(5)), headers=auth(tokens["ingest"]))
    text = client.get("/metrics", headers=auth(tokens["viewer"])).text
    assert "warroom_records_read_total 11.0" in text
    assert "warroom_sse_clients 0.0" in text
    assert 'warroom_ingest_requests_total{outcome="ok"} 1.0' in text


def test_acknowledged_records_survive_a_restart(tmp_path):
    data = tmp_path / "state"
    tokens = make_tokens(data)
    body = ndjson(day())
    with TestClient(create_app(settings(data))) as client:
        first = client.post("/api/v1/ingest", content=body, headers=auth(tokens["ingest"]))
        assert first.json()["accepted"] == 61
    # a new process over the same state: the figures are back, a retry is a duplicate
    with TestClient(create_app(settings(data))) as client:
        wall = client.get("/api/v1/wall", headers=auth(tokens["viewer"])).json()
        assert wall["totals"]["gmv"] == "630.00"
        again = client.post("/api/v1/ingest", content=body, headers=auth(tokens["ingest"]))
        assert again.json()["duplicates"] == 61
