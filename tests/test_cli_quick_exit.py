"""`warroom run` as a command skips the interpreter's teardown once its work is
committed (`cli._exit_now`): nothing it writes may be lost by that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from warroom.cli import app
from warroom.sim import SimConfig, simulate
from warroom.store.db import Store
from warroom.store.dump import dump

OUTPUTS = ("alerts", "decisions", "catalog-alerts")


def _args(day: Path, data: Path) -> list[str]:
    args = ["run", "--events", str(day / "events.ndjson"), "--data", str(data), "--quiet"]
    args += ["--rates", str(day / "rates.json"), "--catalog", str(day / "catalog.ndjson")]
    for kind in OUTPUTS:
        args += [f"--{kind}-out", str(data.parent / f"{data.name}.{kind}")]
    return args


def test_a_run_as_a_command_writes_what_a_run_in_process_writes(tmp_path: Path) -> None:
    day = tmp_path / "day"
    simulate(SimConfig(minutes=2, rate=40, seed=3), day)

    in_process = CliRunner().invoke(app, _args(day, tmp_path / "inproc"))
    assert in_process.exit_code == 0, in_process.output
    command = subprocess.run(
        [sys.executable, "-m", "warroom.cli", *_args(day, tmp_path / "cmd")],
        capture_output=True,
        timeout=300,
    )
    assert command.returncode == 0, command.stderr.decode()
    assert b"records read" in command.stderr  # the summary was flushed before the exit

    for kind in OUTPUTS:
        expected = (tmp_path / f"inproc.{kind}").read_bytes()
        assert (tmp_path / f"cmd.{kind}").read_bytes() == expected, kind
    assert (tmp_path / "inproc.alerts").read_bytes().count(b"\n") >= 3
    # the database was closed: SQLite folded its write-ahead log into the file
    assert not (tmp_path / "cmd" / "warroom.db-wal").exists()
    assert dump(Store.open(tmp_path / "cmd")) == dump(Store.open(tmp_path / "inproc"))


def test_a_failed_run_exits_with_its_error(tmp_path: Path) -> None:
    command = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "run", "--events", str(tmp_path / "none.ndjson"),
         "--data", str(tmp_path / "data"), "--quiet"],
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    assert command.returncode == 2
    assert b"none.ndjson" in command.stderr
