"""The live stream over a real server: one frame per tick, Last-Event-ID replay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from test_api_support import T0, Server, auth, make_tokens, ndjson, order, running_server, visit


def events(client: httpx.Client, url: str, headers: dict[str, str]) -> Iterator[dict]:
    """Parsed SSE events (id, event, data) from one connection."""
    with client.stream("GET", url, headers=headers, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        ev: dict = {}
        for line in r.iter_lines():
            if not line:
                if "data" in ev:
                    yield ev
                ev = {}
                continue
            key, _, value = line.partition(": ")
            ev[key] = json.loads(value) if key == "data" else value


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    data = tmp_path_factory.mktemp("stream") / "state"
    tokens = make_tokens(data)
    with running_server(data, "--tick", "0.3") as srv:
        yield srv, tokens


def seq(event_id: str) -> int:
    return int(event_id.split(".")[1])


def test_frames_are_per_tick_not_per_event(server):
    srv, tokens = server
    view = auth(tokens["viewer"])
    with httpx.Client() as client:
        stream = events(client, f"{srv.url}/api/v1/stream", view)
        first = next(stream)
        assert first["event"] == "snapshot"
        # 40 batches of 25 orders while the stream runs
        for b in range(40):
            recs = [order(b * 25 + i, T0 + b * 250 + i) for i in range(25)]
            r = client.post(
                f"{srv.url}/api/v1/ingest", content=ndjson(recs), headers=auth(tokens["ingest"])
            )
            assert r.json()["accepted"] == 25
        client.post(
            f"{srv.url}/api/v1/ingest",
            content=ndjson([visit(1, T0 + 30_000)]),
            headers=auth(tokens["ingest"]),
        )
        ticks = []
        for ev in stream:
            assert ev["event"] == "tick"
            ticks.append(ev)
            if ev["data"]["totals"]["orders"] == 1000:
                break
    ids = [seq(first["id"])] + [seq(t["id"]) for t in ticks]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # one frame per tick, none skipped
    assert len(ticks) < 1000  # frames come per tick, not per event
    assert ticks[-1]["data"]["totals"]["gmv"] == "21000.00"
    points = {p["t"]: p for t in ticks for p in t["data"]["points"]}
    assert sum(p["orders"] for p in points.values()) == 1000


def test_last_event_id_replays_missed_frames(server):
    srv, tokens = server
    view = auth(tokens["viewer"])
    with httpx.Client() as client:
        stream = events(client, f"{srv.url}/api/v1/stream", view)
        next(stream)
        last = next(stream)["id"]
        stream.close()
        time.sleep(1.0)  # frames go on while we are away
        again = events(client, f"{srv.url}/api/v1/stream", {**view, "Last-Event-ID": last})
        replayed = [next(again) for _ in range(3)]
        again.close()
        assert [e["event"] for e in replayed] == ["tick"] * 3
        assert [seq(e["id"]) for e in replayed] == [seq(last) + 1, seq(last) + 2, seq(last) + 3]
        other = events(client, f"{srv.url}/api/v1/stream?last_event_id=0.5", view)
        assert next(other)["event"] == "snapshot"  # another boot's id: a fresh snapshot
        other.close()


def test_stream_needs_a_reader(server):
    srv, tokens = server
    r = httpx.get(f"{srv.url}/api/v1/stream", headers=auth(tokens["ingest"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    for _ in range(50):  # closed streams are noticed within a tick or two
        status = httpx.get(f"{srv.url}/api/v1/status", headers=auth(tokens["viewer"])).json()
        if status["sse_clients"] == 0:
            break
        time.sleep(0.1)
    assert status["sse_clients"] == 0
