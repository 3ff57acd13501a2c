"""The review queue over HTTP: read with any role, verdicts need `approve`, errors in shape."""

from __future__ import annotations

import warnings

from test_api_rest import settings
from test_api_support import auth, make_tokens
from test_refunds_decider import decode, ring_stream
from warroom.api.app import create_app
from warroom.api.routers import refunds
from warroom.guards.refunds.decider import RefundGuard
from warroom.guards.refunds.policy import load_policy
from warroom.guards.refunds.queue import ReviewQueue
from warroom.store.db import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_review_queue_over_http(tmp_path):
    data = tmp_path / "state"
    tokens = make_tokens(data)
    guard = RefundGuard(load_policy())
    decisions = guard.process(decode(ring_stream()))
    store = Store.open(data)
    ReviewQueue(store.engine).record(decisions, policy="default", orders_seen=28)
    store.engine.dispose()
    app = create_app(settings(data))
    if not any(getattr(r, "path", "").startswith("/api/v1/refunds") for r in app.routes):
        app.include_router(refunds.router)
    with TestClient(app) as client:
        viewer, commander = auth(tokens["viewer"]), auth(tokens["commander"])
        assert client.get("/api/v1/refunds/queue").status_code == 401
        held = client.get("/api/v1/refunds/queue", headers=viewer).json()["refunds"]
        assert held and {r["status"] for r in held} == {"pending"}
        rid = held[0]["refund_id"]
        assert client.get(f"/api/v1/refunds/{rid}", headers=viewer).json()["decision"] == "review"
        body = {"verdict": "reject", "note": "ring"}
        r = client.post(f"/api/v1/refunds/{rid}/verdict", json=body, headers=viewer)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = client.post(f"/api/v1/refunds/{rid}/verdict", json=body, headers=commander)
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        r = client.post(f"/api/v1/refunds/{rid}/verdict", json=body, headers=commander)
        assert r.status_code == 409 and r.json()["error"]["field"] == "refund_id"
        r = client.post("/api/v1/refunds/r-none/verdict", json=body, headers=commander)
        assert r.status_code == 404
        r = client.post(f"/api/v1/refunds/{rid}/verdict", json={"verdict": "?"}, headers=commander)
        assert r.status_code == 422 and "error" in r.json()
        s = client.get("/api/v1/refunds/summary", headers=viewer).json()
        assert s["rejected"] == 1 and s["pending"] == len(held) - 1 and s["base"] == "CNY"
        audit = client.get("/api/v1/admin/audit", headers=auth(tokens["admin"]))
        if audit.status_code == 200:  # the admin router's audit view, where present
            assert any(a["action"] == "refund.reject" for a in audit.json()["events"])
