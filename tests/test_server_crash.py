"""kill -9 of `warroom serve` while requests are in flight: an acknowledged record is never
lost, and one sent again after the restart is never counted twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from test_api_support import Server, auth, free_port, make_tokens
from warroom.api.bench import batch
from warroom.runner import Runner, RunOptions

BATCHES, RECORDS = 60, 2_000  # batch k: RECORDS order lines of event second k


def test_kill_9_during_ingest_loses_no_acknowledged_record_and_counts_none_twice(
    tmp_path: Path,
) -> None:
    """Four producers post batches; the server is killed once some were acknowledged
    (its group commits are written in the background while it takes more). After a
    restart every batch without an acknowledgement is sent again, and two that had one:
    those two are all duplicates, and every record is counted exactly once (aggregated,
    or late when its second had closed meanwhile)."""
    data = tmp_path / "state"
    token = make_tokens(data)["ingest"]
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}", port, data)
    server.start("--checkpoint-seconds", "0.3", "--ingest-rate", "1e9")
    bodies = {k: batch(k, RECORDS) for k in range(BATCHES)}
    acked: set[int] = set()
    lock = threading.Lock()
    todo = iter(range(BATCHES))
    url, headers = f"{server.url}/api/v1/ingest", auth(token)

    def produce() -> None:
        with httpx.Client(timeout=30) as client:
            while (k := next(todo, None)) is not None:
                try:
                    r = client.post(url, content=bodies[k], headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    with lock:
                        acked.add(k)

    producers = [threading.Thread(target=produce) for _ in range(4)]
    for p in producers:
        p.start()
    deadline = time.monotonic() + 60
    while len(acked) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.proc is not None
    server.proc.kill()  # SIGKILL, with requests in flight
    server.proc.wait()
    for p in producers:
        p.join()
    assert 8 <= len(acked) < BATCHES, "the kill should come mid-way"

    server.proc = None
    server.start("--checkpoint-seconds", "0.3", "--ingest-rate", "1e9")
    again = sorted(acked)[:2]
    try:
        with httpx.Client(timeout=30) as client:
            for k in [k for k in range(BATCHES) if k not in acked] + again:
                r = client.post(url, content=bodies[k], headers=headers)
                assert r.status_code == 200, r.text
                if k in again:
                    assert r.json()["duplicates"] == RECORDS
    finally:
        server.stop()  # a clean stop: the last checkpoint

    counted = Runner(RunOptions(events="-", data_dir=data)).engine.counters
    assert counted.quarantined == 0
    assert counted.accepted + counted.late == BATCHES * RECORDS
    assert counted.read == counted.accepted + counted.late + counted.duplicates
    assert counted.duplicates >= 2 * RECORDS
