"""Every route × every role: a route declares one permission and the API enforces it;
every denial lands in the audit trail."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from test_api_support import RATES, T0, auth, make_tokens, ndjson, order
from warroom.api.app import ROUTERS, create_app
from warroom.api.settings import ServeSettings
from warroom.auth.roles import ROLES, allows
from warroom.auth.tokens import TokenStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PUBLIC = {"/healthz", "/", "/wall/", "/wall/{name}", "/vendor/{name}"}
BODIES = {
    ("POST", "/api/v1/ingest"): {"content": ndjson([order(1, T0)])},
    ("POST", "/api/v1/tokens"): {"json": {"role": "viewer"}},
    ("PATCH", "/api/v1/settings"): {"json": {}},
    ("POST", "/api/v1/broadcast"): {"json": {"message": "hello"}},
}
PARAMS = {"/api/v1/top": {"by": "region"}}


def permission_of(route: APIRoute) -> list[str]:
    found = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if hasattr(dep.call, "permission"):
            found.append(dep.call.permission)
        stack.extend(dep.dependencies)
    return found


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("matrix") / "state"
    (data.parent / "rates.json").write_text(json.dumps(RATES))
    tokens = make_tokens(data)
    settings = ServeSettings(data_dir=data, rates=data.parent / "rates.json", tick_seconds=0.1)
    app = create_app(settings)
    app.state.ctx.stream.closing = True  # a granted stream sends its snapshot and ends
    with TestClient(app) as c:
        yield c, tokens, app


def routes(_app) -> list[tuple[str, str, APIRoute]]:
    out = []
    for module in ROUTERS:
        for r in module.router.routes:
            assert isinstance(r, APIRoute)
            out.extend((method, r.path, r) for method in sorted(r.methods - {"HEAD"}))
    return out


def test_every_route_declares_one_permission(client):
    _c, _t, app = client
    assert len(routes(app)) >= 20
    for _method, path, route in routes(app):
        perms = permission_of(route)
        if path in PUBLIC:
            assert perms == [], path
        else:
            assert len(perms) == 1, f"{path} declares {perms}"


def test_every_role_on_every_route(client):
    c, tokens, app = client
    assert set(tokens) == set(ROLES) and "merchant" in tokens
    callers = {
        **{role: auth(tok) for role, tok in tokens.items()},
        "anonymous": {},
        "bad-token": auth("wr_0000_not-a-token"),
    }
    denials = 0
    checked = 0
    merchant_may: list[tuple[str, str]] = []
    for method, path, route in routes(app):
        if path in PUBLIC:
            continue
        (perm,) = permission_of(route)
        if allows("merchant", perm):
            merchant_may.append((method, path))
        url = path.replace("{alert_id}", "a1").replace("{token_id}", "nope")
        for who, headers in callers.items():
            kw = BODIES.get((method, path), {})
            r = c.request(method, url, headers=headers, params=PARAMS.get(path), **kw)
            checked += 1
            if who in ROLES and allows(who, perm):
                assert r.status_code not in (401, 403), (who, method, path, r.text)
                assert r.status_code < 500, (who, method, path, r.text)
            else:
                expected = 403 if who in ROLES else 401
                assert r.status_code == expected, (who, method, path, r.status_code)
                assert set(r.json()["error"]) >= {"code", "message"}
                denials += 1
    assert checked >= 18 * 8
    # a merchant's operator reaches its own notices and nothing else
    assert sorted(merchant_may) == [
        ("GET", "/api/v1/merchant/notices"),
        ("POST", "/api/v1/merchant/notices/{outbox_id}/ack"),
    ]
    admin = auth(tokens["admin"])
    audited = c.get("/api/v1/audit", params={"result": "denied", "limit": 10_000}, headers=admin)
    assert len(audited.json()) == denials


def test_the_open_demo_role_reads_but_does_nothing_else(tmp_path: Path):
    data = tmp_path / "state"
    (tmp_path / "rates.json").write_text(json.dumps(RATES))
    settings = ServeSettings(data_dir=data, rates=tmp_path / "rates.json", open_role="viewer")
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/v1/status").status_code == 200
        assert c.post("/api/v1/ingest", content=b"").status_code == 403
        assert c.post("/api/v1/broadcast", json={"message": "x"}).status_code == 403
        assert c.get("/api/v1/tokens").status_code == 403
        assert c.get("/wall/").status_code == 200
        assert c.get("/api/v1/merchant/notices").status_code == 403  # anonymous is no merchant


def test_a_merchant_role_without_its_merchant_is_refused(tmp_path: Path):
    """An open role or an edited row cannot make an unscoped merchant: it acts for no one."""
    data = tmp_path / "state"
    (tmp_path / "rates.json").write_text(json.dumps(RATES))
    settings = ServeSettings(data_dir=data, rates=tmp_path / "rates.json", open_role="merchant")
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/merchant/notices")
        assert r.status_code == 403 and "scoped to a merchant" in r.json()["error"]["message"]
        admin = TokenStore(c.app.state.ctx.store.engine).create(role="admin")[0]
        denied = c.get("/api/v1/audit", params={"result": "denied"}, headers=auth(admin)).json()
        assert [(d["action"], d["detail"]) for d in denied] == [("merchant", "no merchant scope")]
