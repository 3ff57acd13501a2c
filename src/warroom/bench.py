"""`warroom bench`: end-to-end replay speed and memory, and DuckDB on the same file.

Each replay runs in a child process (read, decode, validate, dedup, aggregate, persist),
so its peak RSS is the child's own (sampled every 20 ms). Figures are printed, never asserted.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.ipc
from rich.console import Console
from rich.table import Table

from warroom.sim import SimConfig, simulate


def run_bench(events: int, workdir: Path, with_duckdb: bool, console: Console) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    sim_dir = workdir / f"sim-{events}"
    ndjson = sim_dir / "events.ndjson"
    if not ndjson.exists():
        _generate(events, sim_dir, console)
    n_lines = sum(1 for _ in ndjson.open("rb"))
    arrow = sim_dir / "events.arrow"
    if not arrow.exists():
        with console.status("converting to Arrow IPC..."):
            _in_child(_to_arrow, (ndjson, arrow), f"converting {ndjson} to Arrow")
    rows = []
    for label, path in (("NDJSON", ndjson), ("Arrow IPC", arrow)):
        seconds, cpu, rss = _replay(path, sim_dir, workdir / f"state-{label.split()[0].lower()}")
        rows.append((f"warroom run ({label})", seconds, cpu, n_lines / seconds, rss))
    table = Table(
        title=f"warroom bench: {n_lines:,} events ({ndjson.stat().st_size / 1e6:,.0f} MB NDJSON)"
    )
    for col in ("what", "seconds", "CPU s", "events/s", "peak RSS"):
        table.add_column(col, justify="right" if col != "what" else "left")
    for what, seconds, cpu, rate, rss in rows:
        table.add_row(
            what, f"{seconds:.2f}", f"{cpu:.2f}", f"{rate:,.0f}", f"{rss / 2**20:,.0f} MiB"
        )
    if with_duckdb:
        duck, duck_cpu = _duckdb(ndjson)
        table.add_row(
            "DuckDB read_ndjson + GROUP BY (per-second GMV by region)",
            f"{duck:.2f}",
            f"{duck_cpu:.2f}",
            f"{n_lines / duck:,.0f}",
            "",
        )
        table.caption = (
            f"warroom NDJSON time / DuckDB time = {rows[0][1] / duck:.2f} "
            f"(CPU: {rows[0][2] / duck_cpu:.2f})"
        )
    console.print(table)


def _to_arrow(ndjson: Path, arrow: Path) -> None:
    """The NDJSON file as Arrow IPC in record batches of 262,144 rows, as a producer
    would write them."""
    frame = pl.read_ndjson(ndjson, infer_schema_length=None)
    table = frame.with_columns(pl.col("ts").cast(pl.String)).rechunk().to_arrow()
    with pa.ipc.new_file(str(arrow), table.schema) as writer:
        writer.write_table(table, max_chunksize=262_144)


def _generate(events: int, out: Path, console: Console) -> None:
    probe = out.parent / "probe"
    simulate(SimConfig(minutes=1, rate=200, scenarios=()), probe)
    per_rate_minute = sum(1 for _ in (probe / "events.ndjson").open("rb")) / 200
    shutil.rmtree(probe)
    minutes = 10.0
    rate = max(events / per_rate_minute / minutes, 1.0)
    with console.status(f"simulating {events:,} events..."):
        _in_child(simulate, (SimConfig(minutes=minutes, rate=rate), out), "simulating")


def _in_child(target: Any, args: tuple[Any, ...], what: str) -> None:
    """Run `target(*args)` in a spawned child. Work that takes gigabytes must not run
    here: Linux keeps a process's peak RSS across exec, so every replay started from
    this process afterwards reported this process's size as its own peak (4,466 MiB at
    10 M events, the size of the simulation, against ~1.3 GiB measured alone)."""
    child = multiprocessing.get_context("spawn").Process(target=target, args=args)
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{what} failed")


def _replay(events: Path, sim_dir: Path, state: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one `warroom run` in a child."""
    shutil.rmtree(state, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "warroom.cli",
        "run",
        "--events",
        str(events),
        "--data",
        str(state),
        "--rates",
        str(sim_dir / "rates.json"),
        "--catalog",
        str(sim_dir / "catalog.ndjson"),
        "--quiet",
    ]
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    # wait4 gives the child's own CPU time (user + system, every thread) and the
    # kernel's record of its peak RSS: both hold on a busy machine, unlike wall time.
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"warroom run failed on {events}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def _duckdb(path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, DuckDB's threads included)."""
    import duckdb

    con = duckdb.connect()
    query = (
        "SELECT region, (TRY_CAST(ts AS BIGINT) // 1000) AS second, "
        "sum(quantity * unit_price) AS gmv FROM read_ndjson(?) "
        "WHERE type = 'order' GROUP BY ALL"
    )
    started, cpu = time.perf_counter(), time.process_time()
    con.execute(query, [str(path)]).fetchall()
    return time.perf_counter() - started, time.process_time() - cpu
