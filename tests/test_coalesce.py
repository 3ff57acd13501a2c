"""Several HTTP batches as one engine step give what they give one by one."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eventgen import T0, order, payment
from warroom.runner import Runner, RunOptions
from warroom.store.dump import dump


def visit(i: int, ts: int) -> bytes:
    return json.dumps(
        {
            "type": "visit",
            "id": f"v-{i}",
            "ts": ts,
            "user_id": f"u{i % 7}",
            "region": "CN-GD",
            "country": "CN",
            "channel": "app",
            "page": "home",
        }
    ).encode()


BODIES = [
    b"\n".join([*(visit(i, T0 + 100 * i) for i in range(40)), order(1, T0 + 200)]),
    b"\n".join(
        [
            visit(3, T0 + 300),  # a duplicate of the first batch's line 4
            b"{not json",  # quarantined, line 2
            b"",  # a blank line
            payment(1, T0 + 7_000),
            visit(100, T0 + 12_000),
        ]
    ),
    b"\n".join([visit(101, T0 + 1_000), order(2, T0 + 12_500), visit(102, T0 + 20_000)]),
]


def _runner(path: Path) -> Runner:
    return Runner(RunOptions(events="-", data_dir=path))


def _decode(runner: Runner) -> list:
    return [runner.decoder.decode_ndjson(b, 1) for b in BODIES]


def test_batches_in_one_step_equal_batches_one_by_one(tmp_path: Path) -> None:
    alone = _runner(tmp_path / "alone")
    one_by_one = []
    for i, batch in enumerate(_decode(alone)):
        one_by_one.extend(alone.feed_many([(batch, f"http:{i}")]))
    together = _runner(tmp_path / "together")
    combined = together.feed_many([(b, f"http:{i}") for i, b in enumerate(_decode(together))])
    assert [_plain(o) for o in combined] == [_plain(o) for o in one_by_one]

    second, third = combined[1], combined[2]
    assert (second.records, second.quarantined, second.duplicates) == (4, 1, 1)
    assert third.late == 1 and third.late_rows.row(0)[:2] == (1, "v-101")  # line 1 of its own

    for r in (alone, together):
        r.engine.flush()
        r.checkpoint(complete=False)
    assert list(together.store.quarantined()) == list(alone.store.quarantined())
    assert [q["source"] for q in together.store.quarantined()] == ["http:1"]
    assert [(x["source"], x["line"]) for x in together.store.late_records()] == [("http:2", 1)]
    assert dump(together.store) == dump(alone.store)


def _plain(outcome: Any) -> dict[str, Any]:
    """An outcome as plain values: its late rows as tuples (frames do not compare)."""
    return asdict(outcome) | {"late_rows": outcome.late_rows.rows()}
