"""Soak (slow, `make test-slow`): a simulated Double 11 with every scenario, killed with
SIGKILL up to ten times, ends byte-equal to a clean run, seconds, minutes and hours alike."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from test_crash import _finish, _timed_finish, kill_during_runs
from warroom.sim import SimConfig, simulate
from warroom.store.db import Store
from warroom.store.dump import dump

pytestmark = pytest.mark.slow


def test_simulated_day_survives_many_kills(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate(SimConfig(minutes=6, rate=120, seed=21), sim)
    events = sim / "events.ndjson"
    shutil.copy(sim / "rates.json", tmp_path / "rates.json")  # _run reads it beside --data

    clean = tmp_path / "clean"
    clean_seconds = _timed_finish(events, clean)
    expected = dump(Store.open(clean))
    assert b"# cells 3600000" in expected and b"# late" in expected

    crashed = tmp_path / "crashed"
    kills = kill_during_runs(
        events, crashed, random.Random(2026), (0.05 * clean_seconds, 0.25 * clean_seconds), 10
    )
    assert kills >= 6
    _finish(events, crashed, batch_bytes=2 << 20)
    assert dump(Store.open(crashed)) == expected
