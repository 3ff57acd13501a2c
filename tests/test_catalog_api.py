"""The catalog router: findings, blast radius, restore, plan and CSV over HTTP."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from test_api_support import RATES, auth, make_tokens
from test_catalog_guard import busy_day, run, snap  # noqa: F401 - snap is a fixture
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings
from warroom.guards.catalog.store import CatalogStore
from warroom.store.db import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_catalog_findings_over_http(snap, rates, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "state"
    tokens = make_tokens(data)
    guard = run(snap, rates, busy_day())
    CatalogStore(Store.open(data).engine).save(guard.findings, 2)
    (tmp_path / "rates.json").write_text(json.dumps(RATES))
    app = create_app(ServeSettings(data_dir=data, rates=tmp_path / "rates.json"))
    with TestClient(app) as client:
        assert client.get("/api/v1/catalog/findings").status_code == 401
        viewer = auth(tokens["viewer"])
        listed = client.get("/api/v1/catalog/findings", headers=viewer).json()["findings"]
        assert len(listed) == 1
        alert = listed[0]["alert"]
        assert alert["source"] == "catalog" and alert["state"] == "firing"
        assert listed[0]["gmv_at_risk"] == 690_000
        one = client.get(f"/api/v1/catalog/findings/{alert['id']}", headers=viewer).json()
        assert len(one["skus"]) == 48
        assert one["orders_shipped"] == ["o-25", "o-26"]
        assert len(one["orders_not_shipped"]) == 67
        missing = client.get("/api/v1/catalog/findings/nope", headers=viewer)
        assert missing.status_code == 404
        assert missing.json()["error"]["field"] == "finding_id"
        restore = client.get(f"/api/v1/catalog/findings/{alert['id']}/restore", headers=viewer)
        assert restore.json()["skus"][0]["attrs"] == {"color": "red", "size": "M"}
        plan = client.get("/api/v1/catalog/plan", headers=viewer).json()
        assert plan["dry_run"] is True
        assert plan["actions"][0]["action"] == "hold_shipping"
        csv = client.get("/api/v1/catalog/merchants/m-0/blast.csv", headers=viewer)
        assert csv.headers["content-type"].startswith("text/csv")
        assert len(csv.text.splitlines()) == 70
