"""Soak (slow, `make test-slow`): a simulated Double 11 with every scenario, killed with
SIGKILL up to ten times, ends byte-equal to a clean run, seconds, minutes and hours alike."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from test_crash import _finish, _run
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
    started = time.monotonic()
    _finish(events, clean)
    clean_seconds = time.monotonic() - started
    expected = dump(Store.open(clean))
    assert b"# cells 3600000" in expected and b"# late" in expected

    crashed = tmp_path / "crashed"
    rng = random.Random(2026)
    kills = 0
    for _ in range(30):
        proc = _run(events, crashed, batch_bytes=rng.choice((1 << 18, 1 << 20, 4 << 20)))
        time.sleep(rng.uniform(0.05, 0.25) * clean_seconds)  # scaled to this machine
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if kills == 10:
            break
    assert kills >= 6
    _finish(events, crashed, batch_bytes=2 << 20)
    assert dump(Store.open(crashed)) == expected
