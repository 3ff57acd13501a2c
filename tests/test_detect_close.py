"""The simulator's close is a cut through running streams, so replaying a day does
not end with something that looks like the market collapsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warroom.detect.evaluate import evaluate
from warroom.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("close")
    info = simulate(SimConfig(minutes=2, rate=60, seed=11, scenarios=()), out)
    return out, info


def test_every_stream_runs_up_to_the_end_of_the_day(day: tuple[Path, dict]) -> None:
    out, info = day
    last: dict[str, int] = {}
    per_second: dict[str, dict[int, int]] = {}
    for line in (out / "events.ndjson").read_text().splitlines():
        rec = json.loads(line)
        if not isinstance(rec["ts"], int):
            continue  # the 1 % with RFC 3339 text: the epoch ones suffice here
        kind, ts = rec["type"], rec["ts"]
        last[kind] = max(last.get(kind, 0), ts)
        sec = (info["end"] - ts - 1) // 1000  # 0 = the day's last second
        per_second.setdefault(kind, {}).setdefault(sec, 0)
        per_second[kind][sec] += 1
    for kind in ("order", "payment", "visit"):
        # nothing after the end, and the last second as busy as the ten before it
        assert info["end"] - 1000 <= last[kind] < info["end"], kind
        before = sum(per_second[kind].get(k, 0) for k in range(1, 11)) / 10
        assert per_second[kind].get(0, 0) >= 0.6 * before, (kind, per_second[kind].get(0), before)


def test_a_quiet_day_replays_without_an_alert(day: tuple[Path, dict]) -> None:
    report = evaluate(day[0])
    assert report.alerts == []
