"""Command over HTTP: plans, dry run, runs with the two-person rule, switches, notices,
the broadcast feed (Last-Event-ID replay, roll-call, escalation on event time),
incidents and their review, and one hash-chained audit trail behind all of it."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notify_receiver import Receiver
from test_api_support import RATES, T0, auth, ndjson, order
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings
from warroom.auth.tokens import TokenStore
from warroom.cli import app as cli
from warroom.command.audit_chain import AuditChain
from warroom.command.clock import FakeClock, StreamClock
from warroom.command.delivery import ENV_FILE, ENV_URL
from warroom.store.db import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PEOPLE = {  # name -> role; one token each, named, so each token is one person
    "alice": "commander",
    "bob": "commander",
    "root": "admin",
    "wanda": "watcher",
    "vic": "viewer",
    "feeder": "ingest",
}


W0 = T0 - 3_600_000  # the controlled wall clock starts an hour before the events


@pytest.fixture
def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    data = tmp_path / "state"
    store = TokenStore(Store.open(data).engine)
    tokens = {n: auth(store.create(role=r, name=n)[0]) for n, r in PEOPLE.items()}
    (tmp_path / "rates.json").write_text(json.dumps(RATES))
    # merchant endpoints: each test writes this file; it is read again when it changes
    monkeypatch.setenv(ENV_FILE, str(tmp_path / "merchants.yaml"))
    monkeypatch.delenv(ENV_URL, raising=False)
    settings = ServeSettings(data_dir=data, rates=tmp_path / "rates.json", checkpoint_seconds=0.2)
    # command's timers on a wall clock the test moves (`wall(c).advance(...)`)
    app = create_app(settings, clock=StreamClock(wall=FakeClock(W0)))
    app.state.ctx.live_command.loops.interval_s = (
        0.05  # the server's loops run every second; tests wait less
    )
    with TestClient(app) as client:
        yield client, tokens


def wall(c: TestClient) -> FakeClock:
    return c.app.state.ctx.command.clock.wall


def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """What the server's background loops do shows within a few of their rounds."""
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def ingest(client: TestClient, who: dict[str, str], records: list[dict]) -> None:
    r = client.post("/api/v1/ingest", content=ndjson(records), headers=who)
    assert r.status_code == 200, r.text


def assert_error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()["error"]


def test_a_plan_run_needs_a_second_person_and_is_audited(api):
    c, tok = api
    names = {p["name"] for p in c.get("/api/v1/plans", headers=tok["vic"]).json()}
    assert {"payment-channel-down", "catalog-scrambled"} <= names
    dry = c.post(
        "/api/v1/plans/payment-channel-down/dry-run",
        json={"params": {"method": "card"}},
        headers=tok["vic"],
    ).json()
    assert [s["action"] for s in dry] == ["broadcast", "set_switch", "pause_campaign"]
    assert dry[1]["ids"] == {"switches": ["payments.route.card"]}
    bad = c.post(
        "/api/v1/plans/payment-channel-down/dry-run", json={"params": {}}, headers=tok["vic"]
    )
    assert "method" in assert_error(bad, 422)["message"]
    assert_error(c.post("/api/v1/plans/nope/dry-run", json={}, headers=tok["vic"]), 404)

    run = c.post(
        "/api/v1/runs",
        json={"plan": "payment-channel-down", "params": {"method": "card"}},
        headers=tok["alice"],
    )
    assert run.status_code == 201, run.text
    run = run.json()
    assert run["requested_by"] == "alice" and run["steps"][0]["state"] == "waiting_approval"
    assert run["steps"][0]["result"]["preview"]["action"] == "broadcast"
    rid = run["id"]
    url = f"/api/v1/runs/{rid}/steps/0/approve"
    refused = assert_error(c.post(url, headers=tok["alice"]), 403)
    assert "two-person rule" in refused["message"]
    assert_error(c.post(url, headers=tok["wanda"]), 403)  # a watcher may not approve at all
    done = c.post(url, headers=tok["bob"]).json()
    assert [s["state"] for s in done["steps"]] == ["done", "waiting_approval", "pending"]
    assert_error(c.post(url, headers=tok["bob"]), 409)  # decided already
    c.post(f"/api/v1/runs/{rid}/steps/1/approve", headers=tok["bob"])
    assert c.get("/api/v1/switches/payments.route.card", headers=tok["vic"]).json() == {
        "name": "payments.route.card",
        "value": "fallback",
        "set": True,
    }
    rejected = c.post(
        f"/api/v1/runs/{rid}/steps/2/reject", json={"reason": "not now"}, headers=tok["bob"]
    ).json()
    assert rejected["state"] == "rejected"
    undone = c.post(f"/api/v1/runs/{rid}/undo", headers=tok["alice"]).json()
    assert undone["state"] == "undone"
    assert c.get("/api/v1/switches/payments.route.card", headers=tok["vic"]).json()["value"] is None
    assert_error(c.get("/api/v1/runs/999", headers=tok["vic"]), 404)

    # one trail: logins, API denials and command decisions, all in the verified chain
    trail = c.get("/api/v1/audit", params={"limit": 1000}, headers=tok["root"]).json()
    actions = {(a["action"], a["result"]) for a in trail}
    assert {("login", "ok"), ("step.approve", "denied"), ("approve", "denied")} <= actions
    assert {("step.approve", "ok"), ("step.reject", "rejected"), ("run.undo", "ok")} <= actions
    logins = [a["actor"] for a in trail if a["action"] == "login"]
    assert len(logins) == len(set(logins))  # once per token, not per request
    engine = c.app.state.ctx.store.engine
    assert AuditChain(engine).verify() is None
    assert len(AuditChain(engine).rows()) == len(trail)
    data = c.app.state.ctx.settings.data_dir
    verified = CliRunner().invoke(cli, ["audit", "verify", "--data", str(data)])
    assert verified.exit_code == 0 and verified.output.startswith(f"ok: {len(trail)} rows")


def notice_states(c: TestClient, who: dict[str, str]) -> dict[str, dict[str, Any]]:
    out = c.get("/api/v1/notices/merchants", headers=who).json()["merchants"]
    return {m["merchant_id"]: m for m in out}


def test_holds_notices_delivery_and_a_merchants_ack(api, tmp_path: Path):
    c, tok = api
    shops = ["m1", "m2", "m3", "m4"]
    ingest(c, tok["feeder"], [{**order(i, T0 + i), "merchant_id": shops[i % 4]} for i in range(8)])
    params = {"merchants": shops, "skus": ["s1"]}
    dry = c.post(
        "/api/v1/plans/catalog-scrambled/dry-run", json={"params": params}, headers=tok["vic"]
    ).json()
    assert dry[0]["counts"] == {"orders": 8} and dry[0]["ids"]["orders"] == [
        f"O{i}" for i in range(8)
    ]
    assert dry[1]["ids"] == {"merchants": shops}
    rid = c.post(
        "/api/v1/runs", json={"plan": "catalog-scrambled", "params": params}, headers=tok["alice"]
    ).json()["id"]
    with Receiver() as ok, Receiver([500]) as flaky, Receiver([404]) as gone:
        # m4 has no endpoint: its notice fails at once, and says why
        hooks = {"m1": ok.url, "m2": flaky.url, "m3": gone.url}
        (tmp_path / "merchants.yaml").write_text(json.dumps({"merchants": hooks}))
        for idx in (0, 1):
            r = c.post(f"/api/v1/runs/{rid}/steps/{idx}/approve", headers=tok["bob"])
            assert r.status_code == 200, r.text
        held = c.get("/api/v1/holds", params={"ref": f"run:{rid}/step:0"}, headers=tok["vic"])
        assert held.json() == {
            "held": [f"O{i}" for i in range(8)],
            "violations": 0,
            "shipments": [],
        }
        # the server's delivery loop: no one calls deliver_due here
        got = eventually(
            lambda: (
                (s := notice_states(c, tok["vic"]))
                and s["m1"]["sent"] + s["m3"]["failed"] + s["m4"]["failed"] == 3
                and s["m2"]["latest"]["attempts"] == 1
                and s
            )
        )
        # in full, not a repr pytest cuts short: it failed twice in whole runs (m1 failed
        # instead of sent), and the reason is in its `latest`
        assert got, json.dumps(notice_states(c, tok["vic"]), indent=1)
        assert got["m2"]["pending"] == 1 and "HTTP 500" in got["m2"]["latest"]["last_error"]
        assert "HTTP 404" in got["m3"]["latest"]["last_error"]
        assert got["m4"]["latest"]["last_error"] == "no endpoint configured for merchant m4"
        assert [got[m]["endpoint"] for m in shops] == [True, True, True, False]
        assert ok.requests[0]["json"]["message"] == (
            "Your SKUs s1 were scrambled; restore them from the snapshot."
        )
        pending = c.get("/api/v1/notices", params={"merchant": "m2"}, headers=tok["vic"]).json()
        assert_error(c.post(f"/api/v1/notices/{pending[0]['id']}/ack", headers=tok["wanda"]), 409)
        wall(c).advance(2)  # the retry's backoff passes on the wall clock
        assert eventually(lambda: notice_states(c, tok["vic"])["m2"]["sent"] == 1)
        assert (len(ok.requests), len(flaky.requests), len(gone.requests)) == (1, 2, 1)
    # the last step needs admin: a commander cannot, an admin can
    assert (
        "admin"
        in assert_error(c.post(f"/api/v1/runs/{rid}/steps/2/approve", headers=tok["bob"]), 403)[
            "message"
        ]
    )
    assert c.post(f"/api/v1/runs/{rid}/steps/2/approve", headers=tok["root"]).json()["state"] == (
        "done"
    )
    failed = c.get("/api/v1/notices", params={"state": "failed"}, headers=tok["vic"]).json()
    assert sorted(n["merchant_id"] for n in failed) == ["m3", "m4"]
    notices = c.get("/api/v1/notices", params={"ref": f"run:{rid}/step:1"}, headers=tok["vic"])
    notice = next(n for n in notices.json() if n["merchant_id"] == "m1")
    # the merchant's operator acknowledges what arrived (a viewer may not)
    assert_error(c.post(f"/api/v1/notices/{notice['id']}/ack", headers=tok["vic"]), 403)
    acked = c.post(f"/api/v1/notices/{notice['id']}/ack", headers=tok["wanda"]).json()
    assert (acked["state"], acked["acked_by"]) == ("acked", "wanda")
    assert notice_states(c, tok["vic"])["m1"]["acked"] == 1
    assert_error(c.post(f"/api/v1/notices/{failed[0]['id']}/ack", headers=tok["wanda"]), 409)
    assert_error(c.post("/api/v1/notices/9999/ack", headers=tok["wanda"]), 404)
    run = c.get(f"/api/v1/runs/{rid}", headers=tok["vic"]).json()
    timeline = c.get(f"/api/v1/incidents/{run['incident_id']}/timeline", headers=tok["vic"]).json()
    assert timeline[-1]["kind"] == "ack" and timeline[-1]["actor"] == "wanda"
    # delivery outcomes are on the incident's timeline (and in the audit chain); retries not
    delivered = " | ".join(e["text"] for e in timeline if "notice.deliver" in e["text"])
    assert "m4 (no endpoint configured for merchant m4)" in delivered and "HTTP 404" in delivered
    assert "sent to m1" in delivered and "sent to m2" in delivered
    # a held order that ships anyway is a counted violation
    shipped = {"type": "shipment", "id": "ev-s1", "ts": T0 + 9, "order_id": "O1"}
    ingest(c, tok["feeder"], [{**shipped, "merchant_id": "m2", "status": "shipped"}])
    holds = eventually(lambda: c.get("/api/v1/holds", headers=tok["vic"]).json()["violations"])
    assert holds == 1


def test_a_merchant_operator_acks_its_own_notices_only(api, tmp_path: Path):
    """A merchant token (scoped to one merchant id) reads and acknowledges that merchant's
    notices and nothing else; staff still acknowledge on a merchant's behalf."""
    c, tok = api
    # the admin API and the CLI both make merchant tokens; the scope is required
    bad = c.post("/api/v1/tokens", json={"role": "merchant"}, headers=tok["root"])
    assert assert_error(bad, 422)["field"] == "merchant"
    bad = c.post("/api/v1/tokens", json={"role": "viewer", "merchant": "m1"}, headers=tok["root"])
    assert "only a merchant token" in assert_error(bad, 422)["message"]
    made = c.post(
        "/api/v1/tokens", json={"role": "merchant", "merchant": "m1"}, headers=tok["root"]
    )
    assert made.status_code == 201 and made.json()["merchant_id"] == "m1", made.text
    m1, m1_id = auth(made.json()["token"]), made.json()["id"]
    data = str(c.app.state.ctx.settings.data_dir)
    out = CliRunner().invoke(
        cli,
        [
            "token",
            "create",
            "--data",
            data,
            "--role",
            "merchant",
            "--merchant",
            "m2",
            "--name",
            "li.wei",
        ],
    )
    assert out.exit_code == 0, out.output
    m2 = auth(out.output.strip())
    listed = {t["id"]: t for t in c.get("/api/v1/tokens", headers=tok["root"]).json()}
    assert listed[m1_id]["merchant_id"] == "m1"
    assert {t["merchant_id"] for t in listed.values() if t["role"] != "merchant"} == {None}

    shops = ["m1", "m2", "m3"]
    ingest(c, tok["feeder"], [{**order(i, T0 + i), "merchant_id": shops[i % 3]} for i in range(6)])
    params = {"merchants": shops, "skus": ["s1"]}
    rid = c.post(
        "/api/v1/runs", json={"plan": "catalog-scrambled", "params": params}, headers=tok["alice"]
    ).json()["id"]
    with Receiver() as ok:
        hooks = {m: ok.url for m in shops}
        (tmp_path / "merchants.yaml").write_text(json.dumps({"merchants": hooks}))
        for idx in (0, 1):
            r = c.post(f"/api/v1/runs/{rid}/steps/{idx}/approve", headers=tok["bob"])
            assert r.status_code == 200, r.text
        sent = eventually(
            lambda: (
                (s := notice_states(c, tok["vic"])) and all(s[m]["sent"] == 1 for m in shops) and s
            )
        )
        # in full when it fails (seen once in a whole run, session 13, not reproduced)
        assert sent, json.dumps(
            {
                "states": notice_states(c, tok["vic"]),
                "notices": c.get("/api/v1/notices", headers=tok["vic"]).json(),
                "received": len(ok.requests),
            },
            default=str,
        )
        # the payload tells the merchant where to acknowledge, with its own token
        ack_paths = {r["json"]["merchant_id"]: r["json"]["ack"] for r in ok.requests}
    ids = {n["merchant_id"]: n["id"] for n in c.get("/api/v1/notices", headers=tok["vic"]).json()}
    assert ack_paths["m1"] == f"/api/v1/merchant/notices/{ids['m1']}/ack"

    # it reads its own notices and nothing else
    mine = c.get("/api/v1/merchant/notices", headers=m1).json()
    assert [(n["id"], n["merchant_id"], n["state"]) for n in mine] == [(ids["m1"], "m1", "sent")]
    assert c.get("/api/v1/merchant/notices", params={"state": "acked"}, headers=m1).json() == []
    for method, path in [
        ("GET", "/api/v1/notices"),
        ("GET", "/api/v1/notices/merchants"),
        ("POST", f"/api/v1/notices/{ids['m1']}/ack"),
        ("GET", f"/api/v1/runs/{rid}"),
        ("GET", "/api/v1/broadcast/me"),
    ]:
        assert_error(c.request(method, path, headers=m1), 403)
    assert_error(c.get("/api/v1/merchant/notices", headers=tok["wanda"]), 403)  # staff: no merchant

    # another merchant's notice: 403, one `denied` row in the chain naming both merchants
    before = len(c.get("/api/v1/audit", params={"limit": 1000}, headers=tok["root"]).json())
    theirs = assert_error(c.post(f"/api/v1/merchant/notices/{ids['m2']}/ack", headers=m1), 403)
    assert "m2" not in theirs["message"]  # the refusal does not tell one merchant of another
    trail = c.get("/api/v1/audit", params={"limit": 1000}, headers=tok["root"]).json()
    assert len(trail) == before + 1
    denial = trail[0]
    assert (denial["action"], denial["target"], denial["result"]) == (
        "notice.ack",
        f"notice:{ids['m2']}",
        "denied",
    )
    assert denial["actor"] == f"token:{m1_id}@m1"
    assert "merchant m2" in denial["detail"] and "merchant m1" in denial["detail"]
    assert (
        c.get("/api/v1/notices", params={"merchant": "m2"}, headers=tok["vic"]).json()[0]["state"]
        == "sent"
    )  # untouched
    assert_error(c.post("/api/v1/merchant/notices/9999/ack", headers=m1), 404)

    # its own: acknowledged, by the operator at that merchant
    acked = c.post(f"/api/v1/merchant/notices/{ids['m1']}/ack", headers=m1).json()
    assert (acked["state"], acked["acked_by"]) == ("acked", f"token:{m1_id}@m1")
    named = c.post(f"/api/v1/merchant/notices/{ids['m2']}/ack", headers=m2).json()
    assert named["acked_by"] == "li.wei@m2"
    # staff still acknowledge on a merchant's behalf (the operator phoned in)
    behalf = c.post(f"/api/v1/notices/{ids['m3']}/ack", headers=tok["wanda"]).json()
    assert (behalf["state"], behalf["acked_by"]) == ("acked", "wanda")
    assert {m: notice_states(c, tok["vic"])[m]["acked"] for m in shops} == {
        "m1": 1,
        "m2": 1,
        "m3": 1,
    }
    run = c.get(f"/api/v1/runs/{rid}", headers=tok["vic"]).json()
    timeline = c.get(f"/api/v1/incidents/{run['incident_id']}/timeline", headers=tok["vic"]).json()
    acks = [e["actor"] for e in timeline if e["kind"] == "ack"]
    assert acks == [f"token:{m1_id}@m1", "li.wei@m2", "wanda"]  # the denial is not news there
    # the run tells the page the command clock's now, to count down the waiting step
    assert run["now_ms"] == c.app.state.ctx.command.clock.now_ms()
    assert run["steps"][2]["state"] == "waiting_approval"
    assert run["steps"][2]["deadline_ms"] - run["now_ms"] == 10 * 60_000
    engine = c.app.state.ctx.store.engine
    assert AuditChain(engine).verify() is None


def sse(c: TestClient, who: dict[str, str], last: str | None = None) -> list[tuple[str, str, dict]]:
    """The feed's events for one client: (id, kind, data). The app is closing, so the
    stream sends what is pending and ends."""
    headers = {**who, **({"Last-Event-ID": last} if last else {})}
    out, fields = [], {}
    with c.stream("GET", "/api/v1/broadcast/stream", headers=headers) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line:
                if "data" in fields:
                    out.append((fields["id"], fields["event"], json.loads(fields["data"])))
                fields = {}
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
    return out


def test_broadcast_roll_call_replay_and_escalation(api):
    c, tok = api
    roster = {
        "people": [
            {"name": "alice", "role": "commander", "next": "root"},
            {"name": "bob", "role": "commander", "next": "root"},
            {"name": "wanda", "role": "watcher", "next": "bob"},
            {"name": "root", "role": "admin"},
        ]
    }
    assert_error(c.put("/api/v1/broadcast/roster", json=roster, headers=tok["alice"]), 403)
    assert c.put("/api/v1/broadcast/roster", json=roster, headers=tok["root"]).json() == {
        "people": 4
    }
    bad = c.post(
        "/api/v1/broadcast", json={"message": "x", "ack_within": "soon"}, headers=tok["alice"]
    )
    assert assert_error(bad, 422)["field"] == "ack_within"
    sent = c.post(
        "/api/v1/broadcast",
        json={"message": "card is failing", "roles": ["commander"], "ack_within": "1m"},
        headers=tok["alice"],
    ).json()
    mid = sent["id"]
    assert c.get("/api/v1/wall", headers=tok["vic"]).json()["broadcast"]["message"] == (
        "card is failing"
    )
    everyone = c.post("/api/v1/broadcast", json={"message": "hello"}, headers=tok["alice"]).json()
    c.app.state.ctx.stream.closing = True  # each stream now sends what is pending, then ends

    bobs = sse(c, tok["bob"])
    assert [(k, d["message_id"]) for _, k, d in bobs] == [
        ("message", mid),
        ("message", everyone["id"]),
    ]
    assert sse(c, tok["wanda"])[0][2]["text"] == "hello"  # not addressed the commanders' one
    assert sse(c, tok["bob"], last=bobs[-1][0]) == []  # nothing twice after Last-Event-ID
    assert sse(c, tok["bob"], last=bobs[0][0])[0][2]["message_id"] == everyone["id"]

    assert c.post(f"/api/v1/broadcast/messages/{mid}/ack", headers=tok["bob"]).json()["first"]
    assert not c.post(f"/api/v1/broadcast/messages/{mid}/ack", headers=tok["bob"]).json()["first"]
    assert_error(c.post(f"/api/v1/broadcast/messages/{mid}/ack", headers=tok["wanda"]), 404)
    call = c.get(f"/api/v1/broadcast/messages/{mid}", headers=tok["vic"]).json()
    assert (call["acked"], call["pending"]) == (["bob"], ["alice"])
    after = sse(c, tok["alice"], last=bobs[-1][0])
    assert [(k, d["person"]) for _, k, d in after] == [("ack", "bob")]

    def pending() -> list[str]:
        return c.get(f"/api/v1/broadcast/messages/{mid}", headers=tok["vic"]).json()["pending"]

    # the stream's events run past the deadline (sent at W0, events an hour later): the
    # timer loop re-sends to alice and escalates to root
    ingest(c, tok["feeder"], [order(1, T0), order(2, T0 + 120_000)])
    assert eventually(lambda: pending() == ["alice", "root"]), pending()
    kinds = [(k, d["message_id"]) for _, k, d in sse(c, tok["alice"], last=after[-1][0])]
    assert ("resend", mid) in kinds

    def roots() -> list[str]:  # what root's feed shows of the commanders' message
        got = sse(c, tok["root"], last=after[-1][0])
        return [k for _, k, d in got if d["message_id"] == mid]

    assert roots() == ["escalation"]
    # no more events: root's minute passes on the wall clock alone, and root is re-sent
    wall(c).advance(59)
    time.sleep(0.3)  # several rounds of the timer loop: not due yet
    assert roots() == ["escalation"]
    wall(c).advance(2)
    assert eventually(lambda: roots() == ["escalation", "resend"]), roots()


def test_approval_time_out_on_the_wall_clock_without_events(api):
    """A quiet stream does not freeze people's timers; the audit trail keeps UTC time."""
    c, tok = api
    run = c.post(
        "/api/v1/runs",
        json={"plan": "payment-channel-down", "params": {"method": "card"}},
        headers=tok["alice"],
    ).json()
    step = run["steps"][0]
    assert step["deadline_ms"] == W0 + 5 * 60_000  # the stream has no events: the wall's time

    def state() -> str:
        return c.get(f"/api/v1/runs/{run['id']}", headers=tok["vic"]).json()["steps"][0]["state"]

    wall(c).advance(5 * 60)  # a deadline equal to now is still in time
    time.sleep(0.3)
    assert state() == "waiting_approval"
    wall(c).advance(1)
    assert eventually(lambda: state() == "timed_out"), state()
    assert_error(c.post(f"/api/v1/runs/{run['id']}/steps/0/approve", headers=tok["bob"]), 409)
    timeline = c.get(f"/api/v1/incidents/{run['incident_id']}/timeline", headers=tok["vic"])
    out = [e for e in timeline.json() if "timed_out" in e["text"] or "timeout" in e["text"]]
    assert out and out[0]["ts_ms"] == W0 + 5 * 60_000 + 1_000  # the timers' clock
    trail = c.get("/api/v1/audit", params={"limit": 1000}, headers=tok["root"]).json()
    stamped = [a for a in trail if a["action"].startswith("step.time")]
    assert stamped and abs(stamped[0]["utc_ms"] - time.time() * 1000) < 60_000  # wall, UTC


def test_incident_lifecycle_and_review(api):
    c, tok = api
    assert_error(c.post("/api/v1/incidents", json={"title": " "}, headers=tok["alice"]), 422)
    assert_error(c.post("/api/v1/incidents", json={"title": "x"}, headers=tok["wanda"]), 403)
    inc = c.post("/api/v1/incidents", json={"title": "Card payments failing"}, headers=tok["alice"])
    assert inc.status_code == 201
    iid = inc.json()["id"]
    assert inc.json()["roles"] == {"commander": "alice"}
    c.put(f"/api/v1/incidents/{iid}/roles/scribe", json={"person": "bob"}, headers=tok["alice"])
    c.post(f"/api/v1/incidents/{iid}/notes", json={"text": "acquirer paged"}, headers=tok["wanda"])
    c.post(f"/api/v1/incidents/{iid}/status", json={"status": "mitigated"}, headers=tok["alice"])
    c.post(
        f"/api/v1/incidents/{iid}/status",
        json={"status": "resolved", "note": "acquirer fixed"},
        headers=tok["alice"],
    )
    got = c.get(f"/api/v1/incidents/{iid}", headers=tok["vic"]).json()
    assert got["status"] == "resolved" and got["roles"]["scribe"] == "bob"
    texts = [
        e["text"] for e in c.get(f"/api/v1/incidents/{iid}/timeline", headers=tok["vic"]).json()
    ]
    assert any("acquirer paged" in t for t in texts) and any(
        "incident.resolved" in t for t in texts
    )
    assert_error(
        c.post(f"/api/v1/incidents/{iid}/notes", json={"text": "late"}, headers=tok["wanda"]), 409
    )
    md = c.get(f"/api/v1/incidents/{iid}/review.md", headers=tok["vic"])
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith(f"# Incident {iid}: Card payments failing")
    assert "acquirer paged" in md.text
    page = c.get(
        f"/api/v1/incidents/{iid}/review.html", params={"download": True}, headers=tok["vic"]
    )
    assert "attachment" in page.headers["content-disposition"] and "<table>" in page.text

    alert = {
        "id": "al-1",
        "source": "kpi",
        "metric": "payment_success_rate",
        "direction": "drop",
        "severity": "critical",
        "summary": "card success rate dropped",
        "scope": {"method": "card"},
    }
    both = c.post(
        "/api/v1/incidents",
        json={"alert": alert, "plan": "payment-channel-down"},
        headers=tok["alice"],
    ).json()
    assert both["source"] == "alert:al-1" and both["run"]["params"] == {"method": "card"}
    first = c.get(f"/api/v1/incidents/{both['id']}/timeline", headers=tok["vic"]).json()
    assert any(e["kind"] == "alert" for e in first)
    listed = c.get("/api/v1/incidents", params={"status": "active"}, headers=tok["vic"]).json()
    assert [i["id"] for i in listed] == [both["id"]]
    # a later alert joins the running incident's timeline; not a resolved one's
    later = {**alert, "id": "al-2", "summary": "card success rate still low"}
    url = f"/api/v1/incidents/{both['id']}/alerts"
    assert c.post(url, json={"alert": later}, headers=tok["wanda"]).json()["alert"] == "al-2"
    kinds = [
        (e["kind"], e["data"].get("id"))
        for e in c.get(f"/api/v1/incidents/{both['id']}/timeline", headers=tok["vic"]).json()
    ]
    assert kinds.count(("alert", "al-1")) == 1 and kinds[-1] == ("alert", "al-2")
    assert_error(c.post(url, json={}, headers=tok["wanda"]), 422)
    assert_error(c.post(url, json={"alert_id": "nope"}, headers=tok["wanda"]), 404)
    assert_error(c.post(url, json={"alert": later}, headers=tok["vic"]), 403)
    resolved = f"/api/v1/incidents/{iid}/alerts"
    assert_error(c.post(resolved, json={"alert": later}, headers=tok["wanda"]), 409)


def test_the_feed_hub_replays_from_memory_and_from_the_database(tmp_path: Path):
    """Each event once after Last-Event-ID, whether the hub still holds it or not."""
    import asyncio

    from warroom.command.clock import FakeClock
    from warroom.command.feedhub import FeedHub
    from warroom.command.service import Command

    cmd = Command.open(engine=Store.open(tmp_path).engine, clock=FakeClock(T0))
    cmd.broadcast.load_roster([{"name": "ann", "role": "commander"}])

    def send(n: int) -> list[int]:
        return [
            cmd.broadcast.send(text=f"m{i}", roles=["commander"], sender="x", ack_within_ms=9)
            for i in range(n)
        ]

    async def ids(hub: FeedHub, last: int, roles: list[str]) -> list[int]:
        out = []
        chunks = hub.stream(person="ann", roles=roles, last_event_id=last, stop=lambda: True)
        async for chunk in chunks:
            if chunk.startswith("id: "):
                out.append(int(chunk.split("\n")[0][4:]))
        return out

    async def scenario() -> None:
        # one feed event per message here, so feed ids and message ids are the same
        old = send(3)  # before the hub starts: only the database has them
        hub = FeedHub(cmd.broadcast, keep=2)
        await hub.start()
        new = send(3)  # the hub keeps the newest 2 of these
        await hub.refresh()
        assert hub.first_kept == new[1]
        assert await ids(hub, 0, ["commander"]) == old + new
        assert await ids(hub, old[1], ["commander"]) == old[2:] + new
        assert await ids(hub, new[1], ["commander"]) == new[2:]
        assert await ids(hub, new[2], ["commander"]) == []
        assert await ids(hub, 0, ["viewer"]) == []  # not addressed to a viewer
        cmd.broadcast.acknowledge(message_id=new[0], person="ann")  # an ack goes to everyone
        await hub.refresh()
        assert len(await ids(hub, new[2], ["viewer"])) == 1
        await hub.stop()

    asyncio.run(scenario())
