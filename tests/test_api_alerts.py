"""The watch inside the server: alert routes (list, one, ack, owner, silences, history,
notifications, Alertmanager's webhook), the watch on ingested events, and notifications
from `--alerts-config` to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from notify_receiver import Receiver
from test_api_support import RATES, auth, make_tokens, ndjson, order
from warroom.alerts.config import parse as parse_config
from warroom.alerts.errors import InvalidInput
from warroom.api.app import create_app
from warroom.api.settings import ServeSettings
from warroom.cli import app as cli_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MIDNIGHT = 1_794_326_400_000  # 2026-11-11T00:00:00+08:00
REGIONS = {"CN-GD": 0.3, "CN-ZJ": 0.25, "CN-JS": 0.2, "US-CA": 0.15, "JP-13": 0.1}
CHANNELS = {"app": 0.6, "web": 0.3, "mini": 0.1}


def settings(data: Path, **kw: Any) -> ServeSettings:
    rates = data.parent / "rates.json"
    rates.write_text(json.dumps(RATES))
    return ServeSettings(data_dir=data, rates=rates, checkpoint_seconds=0.2, **kw)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    data = tmp_path / "state"
    tokens = make_tokens(data)
    with TestClient(create_app(settings(data))) as client:
        yield client, tokens


def am_alert(fp: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": "critical", **labels},
        "annotations": {"summary": f"5xx above 5 % ({fp})"},
        "startsAt": "2026-11-11T00:10:00+08:00",
        "endsAt": "2026-11-11T00:15:00+08:00" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }


def am_body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": alerts[0]["status"],
        "receiver": "warroom",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def error_of(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]


def audit(client: TestClient, tokens: dict[str, str], action: str) -> list[dict[str, Any]]:
    rows = client.get("/api/v1/audit", params={"limit": 1000}, headers=auth(tokens["admin"]))
    return [r for r in rows.json() if r["action"] == action]


# -- Alertmanager's webhook ------------------------------------------------------------
def test_alertmanager_webhook_opens_dedups_and_resolves(api):
    client, tokens = api
    ingest = auth(tokens["ingest"])
    body = am_body(am_alert("fp1", region="CN-GD"), am_alert("fp2", source="refund"))
    r = client.post("/api/v1/alerts/alertmanager", json=body, headers=ingest)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 2, "changed": 2, "ids": ["am-fp1", "am-fp2"]}
    again = client.post("/api/v1/alerts/alertmanager", json=body, headers=ingest).json()
    assert again["changed"] == 0  # Alertmanager repeats itself every group_interval

    viewer = auth(tokens["viewer"])
    listed = client.get("/api/v1/alerts", headers=viewer).json()["alerts"]
    assert {a["id"] for a in listed} == {"am-fp1", "am-fp2"}
    one = client.get("/api/v1/alerts/am-fp1", headers=viewer).json()
    assert one["state"] == "firing" and one["scope"] == {"region": "CN-GD"}
    assert one["severity"] == "critical" and one["summary"] == "5xx above 5 % (fp1)"
    assert [h["action"] for h in one["history"]] == ["firing"]

    done = am_body(am_alert("fp1", "resolved", region="CN-GD"))
    assert (
        client.post("/api/v1/alerts/alertmanager", json=done, headers=ingest).json()["changed"] == 1
    )
    one = client.get("/api/v1/alerts/am-fp1", headers=viewer).json()
    assert one["state"] == "resolved" and one["first_ts"] < one["ts"]
    assert [h["action"] for h in one["history"]] == ["resolved", "firing"]
    assert len(audit(client, tokens, "alertmanager")) == 3


def test_alertmanager_webhook_rejects_bad_bodies_in_the_one_shape(api):
    client, tokens = api
    url, ingest = "/api/v1/alerts/alertmanager", auth(tokens["ingest"])
    bad_status = am_body(am_alert("x", status="pending"))
    assert error_of(client.post(url, json=bad_status, headers=ingest), 422)["field"] == (
        "alerts[0].status"
    )
    old = {**am_body(am_alert("x")), "version": "3"}
    assert error_of(client.post(url, json=old, headers=ingest), 422)["field"] == "version"
    no_time = am_body({**am_alert("x"), "startsAt": "yesterday"})
    assert error_of(client.post(url, json=no_time, headers=ingest), 422)["field"] == (
        "alerts[0].startsAt"
    )
    assert error_of(client.post(url, json={"alerts": "no"}, headers=ingest), 422)["field"] == (
        "alerts"
    )
    # a person's watcher token may not pose as Prometheus; nor may anonymous
    error_of(client.post(url, json=am_body(am_alert("x")), headers=auth(tokens["watcher"])), 403)
    error_of(client.post(url, json=am_body(am_alert("x"))), 401)
    assert client.get("/api/v1/alerts", headers=auth(tokens["viewer"])).json()["alerts"] == []
    # the three that parse as JSON but not as alerts are audited; pydantic's are not
    assert [a["result"] for a in audit(client, tokens, "alertmanager")] == ["failed"] * 3


# -- reads and filters -----------------------------------------------------------------
def test_list_filters_by_state_and_source(api):
    client, tokens = api
    body = am_body(am_alert("k1"), am_alert("r1", source="refund"), am_alert("k2"))
    client.post("/api/v1/alerts/alertmanager", json=body, headers=auth(tokens["ingest"]))
    client.post(
        "/api/v1/alerts/alertmanager",
        json=am_body(am_alert("k2", "resolved")),
        headers=auth(tokens["ingest"]),
    )
    viewer = auth(tokens["viewer"])

    def ids(**params: str) -> set[str]:
        r = client.get("/api/v1/alerts", params=params, headers=viewer)
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["alerts"]}

    assert ids(source="refund") == {"am-r1"}
    assert ids(source="kpi") == {"am-k1", "am-k2"}
    assert ids(source="kpi", state="firing") == {"am-k1"}
    assert ids(state="resolved") == {"am-k2"}
    assert ids(source="catalog") == set()
    assert error_of(client.get("/api/v1/alerts?source=moon", headers=viewer), 422)["field"] == (
        "source"
    )
    assert error_of(client.get("/api/v1/alerts/nope", headers=viewer), 404)["field"] == "alert_id"
    hist = client.get("/api/v1/alerts/history", params={"limit": 2}, headers=viewer).json()
    assert [h["action"] for h in hist["history"]] == ["resolved", "firing"]
    assert error_of(client.get("/api/v1/alerts/history?limit=0", headers=viewer), 422)


# -- acknowledgement and owner ---------------------------------------------------------
def test_acknowledge_and_owner_are_recorded_and_audited(api):
    client, tokens = api
    client.post(
        "/api/v1/alerts/alertmanager", json=am_body(am_alert("o1")), headers=auth(tokens["ingest"])
    )
    watcher = auth(tokens["watcher"])
    r = client.post("/api/v1/alerts/am-o1/ack", headers=watcher)
    assert r.status_code == 200 and r.json()["acknowledged_by"].endswith("(watcher)")
    r = client.put("/api/v1/alerts/am-o1/owner", json={"owner": "li.wei"}, headers=watcher)
    assert r.status_code == 200, r.text
    assert r.json()["owner"] == "li.wei" and r.json()["acked_by"].endswith("(watcher)")
    one = client.get("/api/v1/alerts/am-o1", headers=auth(tokens["viewer"])).json()
    assert [h["action"] for h in one["history"]] == ["set_owner", "acknowledge", "firing"]
    assert one["owner"] == "li.wei"

    as_viewer = auth(tokens["viewer"])
    error_of(client.put("/api/v1/alerts/am-o1/owner", json={"owner": "x"}, headers=as_viewer), 403)
    missing = client.put("/api/v1/alerts/nope/owner", json={"owner": "x"}, headers=watcher)
    assert error_of(missing, 404)["field"] == "alert_id"
    extra = client.put("/api/v1/alerts/am-o1/owner", json={"owner": "x", "x": 1}, headers=watcher)
    assert error_of(extra, 422)["field"] == "x"
    assert error_of(client.post("/api/v1/alerts/nope/ack", headers=watcher), 404)
    owners = audit(client, tokens, "alert.owner")
    assert sorted(o["result"] for o in owners) == ["failed", "ok"]
    assert {o["target"] for o in owners} == {"alert:am-o1", "alert:nope"}


# -- silences ------------------------------------------------------------------------------
def test_silences_mute_list_and_delete(api):
    client, tokens = api
    body = am_body(am_alert("s1", region="CN-ZJ"), am_alert("s2", region="CN-GD"))
    client.post("/api/v1/alerts/alertmanager", json=body, headers=auth(tokens["ingest"]))
    watcher, viewer = auth(tokens["watcher"]), auth(tokens["viewer"])
    r = client.post(
        "/api/v1/alerts/silences",
        json={"matchers": ['region="CN-ZJ"'], "duration_minutes": 60, "comment": "known"},
        headers=watcher,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["ends"] - made["starts"] == 3_600_000 and made["created_by"].endswith("(watcher)")
    nightly = client.post(
        "/api/v1/alerts/silences",
        json={
            "matchers": ['alertname=~"Disk.*"'],
            "starts": MIDNIGHT,
            "ends": MIDNIGHT + 30 * 86_400_000,
            "recurrence": {"start_minute": 120, "end_minute": 240},
        },
        headers=watcher,
    )
    assert nightly.status_code == 201, nightly.text
    assert nightly.json()["recurrence"]["weekdays"] == list(range(7))

    listed = client.get("/api/v1/alerts/silences", headers=viewer).json()["silences"]
    assert {s["id"] for s in listed} == {made["id"], nightly.json()["id"]}
    shown = client.get("/api/v1/alerts", headers=viewer).json()["alerts"]
    muted = {a["id"]: a["muted"] for a in shown}
    assert muted == {"am-s1": True, "am-s2": False}
    # the big screen's ticker leaves the silenced alert out
    wall = client.get("/api/v1/wall", headers=viewer).json()
    assert [a["id"] for a in wall["alerts"]] == ["am-s2"]
    unmuted = client.get("/api/v1/alerts", params={"muted": "false"}, headers=viewer).json()
    assert [a["id"] for a in unmuted["alerts"]] == ["am-s2"]

    bad = [
        ({"matchers": ["region"], "duration_minutes": 5}, "matchers"),
        ({"matchers": ['region="x"']}, "ends"),
        ({"matchers": ['region="x"'], "ends": 5, "duration_minutes": 5}, "ends"),
        ({"matchers": [], "duration_minutes": 5}, "matchers"),
        ({"matchers": ['a="b"'], "starts": 10, "ends": 5}, "ends"),
        (
            {
                "matchers": ['a="b"'],
                "duration_minutes": 5,
                "recurrence": {"start_minute": 0, "end_minute": 60, "weekdays": [7]},
            },
            "recurrence.weekdays",
        ),
    ]
    for payload, field in bad:
        r = client.post("/api/v1/alerts/silences", json=payload, headers=watcher)
        assert error_of(r, 422).get("field", "").startswith(field), (payload, r.text)
    error_of(client.post("/api/v1/alerts/silences", json=bad[0][0], headers=viewer), 403)

    assert client.delete(f"/api/v1/alerts/silences/{made['id']}", headers=watcher).json() == {
        "id": made["id"],
        "deleted": True,
    }
    error_of(client.delete(f"/api/v1/alerts/silences/{made['id']}", headers=watcher), 404)
    error_of(client.delete(f"/api/v1/alerts/silences/{made['id']}", headers=viewer), 403)
    after = client.get("/api/v1/alerts", headers=viewer).json()["alerts"]
    assert not any(a["muted"] for a in after)
    wall = client.get("/api/v1/wall", headers=viewer).json()
    assert {a["id"] for a in wall["alerts"]} == {"am-s1", "am-s2"}
    results = [(a["action"], a["result"]) for a in audit(client, tokens, "silence.create")]
    assert results.count(("silence.create", "ok")) == 2
    assert len(audit(client, tokens, "silence.delete")) == 2


def test_silences_and_history_survive_a_restart(tmp_path: Path):
    data = tmp_path / "state"
    tokens = make_tokens(data)
    with TestClient(create_app(settings(data))) as client:
        client.post(
            "/api/v1/alerts/alertmanager",
            json=am_body(am_alert("p1")),
            headers=auth(tokens["ingest"]),
        )
        client.post(
            "/api/v1/alerts/silences",
            json={"matchers": ['metric="HighErrorRate"'], "duration_minutes": 5},
            headers=auth(tokens["watcher"]),
        )
    with TestClient(create_app(settings(data))) as client:
        viewer = auth(tokens["viewer"])
        (a,) = client.get("/api/v1/alerts", headers=viewer).json()["alerts"]
        assert a["id"] == "am-p1" and a["muted"] is True
        assert len(client.get("/api/v1/alerts/silences", headers=viewer).json()["silences"]) == 1


# -- the watch on ingested events, notified through --alerts-config ----------------------
def dark_day(seconds: int = 330, dark: tuple[str, int, int] = ("CN-ZJ", 250, 280)) -> list[dict]:
    """Orders of a Double 11 that surges x20 at midnight; one region sells nothing for
    30 s (as tests/test_detect_pipeline.py's synthetic cells, but as records)."""
    rng = np.random.default_rng(1)
    recs: list[dict] = []
    for s in range(seconds):
        win = MIDNIGHT - 60_000 + s * 1000
        t = s - 60
        level = 30.0 * (1 + (19 * np.exp(-t / 40) if t >= 0 else 0))
        for region, pr in REGIONS.items():
            for channel, pc in CHANNELS.items():
                n = (
                    0
                    if region == dark[0] and dark[1] <= s < dark[2]
                    else rng.poisson(level * pr * pc)
                )
                for _ in range(n):
                    ts = win + int(rng.integers(1000))
                    recs.append(order(len(recs), ts, region=region, channel=channel))
    # a record well after the last second: the engine finalises every window before it
    recs.append(order(len(recs), MIDNIGHT - 60_000 + (seconds + 20) * 1000))
    return recs


def wait_idle(app: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not app.state.ctx.watch.idle():
        assert time.monotonic() < deadline, "the watch did not catch up"
        time.sleep(0.05)


def write_config(path: Path, url: str) -> Path:
    cfg = {
        "route": {
            "receiver": "ops",
            "group_by": ["region"],
            "group_wait": "2s",
            "group_interval": "10s",
            "repeat_interval": "1h",
            "routes": [{"matchers": ['source="refund"'], "receiver": "refunds"}],
        },
        "receivers": [
            {"name": "ops", "webhook_configs": [{"url": url}]},
            {"name": "refunds"},
        ],
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_ingested_events_trip_the_watch_and_notify_the_webhook_once(tmp_path: Path):
    data = tmp_path / "state"
    tokens = make_tokens(data)
    recs = dark_day()
    with Receiver() as rx:
        cfg = write_config(tmp_path / "alerts.yaml", rx.url)
        app = create_app(settings(data, alerts_config=cfg))
        with TestClient(app) as client:
            for i in range(0, len(recs), 20_000):
                r = client.post(
                    "/api/v1/ingest",
                    content=ndjson(recs[i : i + 20_000]),
                    headers=auth(tokens["ingest"]),
                )
                assert r.status_code == 200, r.text
            wait_idle(app)
            viewer = auth(tokens["viewer"])
            alerts = client.get("/api/v1/alerts", headers=viewer).json()["alerts"]
            (dark,) = [a for a in alerts if a["scope"].get("region") == "CN-ZJ"]
            assert dark["metric"] == "orders" and dark["direction"] == "drop"
            dark_from = MIDNIGHT - 60_000 + 250_000
            assert dark_from < dark["first_ts"] <= dark_from + 5_000
            assert dark["state"] == "resolved"  # the region sold again
            sent = client.get("/api/v1/alerts/notifications", headers=viewer).json()
            deliveries = [d for d in sent["deliveries"] if d["group"] == {"region": "CN-ZJ"}]
            assert [d["alerts"][0]["state"] for d in deliveries] == ["resolved", "firing"]
            assert all(d["sent"] and d["integration"] == "webhook" for d in deliveries)
            assert sent["watch"]["steps_failed"] == 0 and sent["watch"]["steps_waiting"] == 0
            assert sent["watch"]["steps_judged"] >= 2
            assert sent["watch"]["receivers"] == ["ops", "refunds"]
        # the server is gone; restarted over the same state it re-sends nothing
        with TestClient(create_app(settings(data, alerts_config=cfg))) as client:
            wait_idle(client.app)
    mine = [r["json"] for r in rx.requests if r["json"]["groupLabels"] == {"region": "CN-ZJ"}]
    assert [b["status"] for b in mine] == ["firing", "resolved"]
    assert [a["labels"]["metric"] for a in mine[0]["alerts"]] == ["orders"]
    assert mine[0]["alerts"][0]["labels"]["region"] == "CN-ZJ"


def test_the_notification_log_prevents_a_resend_after_a_restart(tmp_path: Path):
    """A batch sent before a crash, due again after it (a replay from the checkpoint),
    is skipped: it is in the store's notification log."""
    from notify_receiver import sample_batch

    data = tmp_path / "state"
    with Receiver() as rx:
        cfg = write_config(tmp_path / "alerts.yaml", rx.url)
        with TestClient(create_app(settings(data, alerts_config=cfg))) as client:
            client.app.state.ctx.watch._send(sample_batch())
            wait_idle(client.app)
        with TestClient(create_app(settings(data, alerts_config=cfg))) as client:
            watch = client.app.state.ctx.watch
            watch._send(sample_batch())
            wait_idle(client.app)
            (outcome,) = watch.notifications()
            assert outcome["skipped"] and outcome["receiver"] == "ops"
    assert len(rx.requests) == 1


def test_alerts_config_errors_name_the_field(tmp_path: Path):
    good = yaml.safe_load(write_config(tmp_path / "a.yaml", "http://127.0.0.1:9/hook").read_text())
    cfg = parse_config(good)
    assert [r.receiver for r in cfg.routes] == ["refunds", "ops"]  # the specific one first
    assert cfg.routes[0].group_wait_ms == 2_000 and cfg.routes[0].group_by == ("region",)
    assert [n.name for n in cfg.receivers["ops"]] == ["webhook"]

    def field_of(change: Any) -> str:
        raw = yaml.safe_load(yaml.safe_dump(good))
        change(raw)
        with pytest.raises(InvalidInput) as info:
            parse_config(raw)
        return info.value.field

    assert field_of(lambda c: c["route"].update(group_wait="soon")) == "route.group_wait"
    assert field_of(lambda c: c["route"]["routes"][0].update(receiver="nobody")) == (
        "route.routes[0].receiver"
    )
    assert field_of(lambda c: c["route"]["routes"][0].update(matchers=["bad"])) == (
        "route.routes[0].matchers[0]"
    )
    assert field_of(lambda c: c["route"].update(group_interval=0)) == "route.group_interval"
    assert field_of(lambda c: c["receivers"][0]["webhook_configs"][0].update(url="ftp://x")) == (
        "receivers[0].webhook_configs[0].url"
    )
    assert field_of(lambda c: c["receivers"][0].update(email_configs=[])) == (
        "receivers[0].email_configs"
    )
    assert field_of(lambda c: c["receivers"].append({"name": "ops"})) == "receivers[2].name"

    bad = tmp_path / "bad.yaml"
    bad.write_text("route: {receiver: ops, group_wait: soon}\nreceivers: [{name: ops}]\n")
    args = ["serve", "--data", str(tmp_path / "s"), "--alerts-config", str(bad)]
    out = CliRunner().invoke(cli_app, args)
    assert out.exit_code == 2
    assert "route.group_wait" in out.output
