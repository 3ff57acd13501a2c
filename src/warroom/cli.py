"""`warroom ...`: the command line (Typer + Rich)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.table import Table

from warroom.errors import WarroomError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="warroom: the command center for a marketplace's peak-sale day.",
)
err = Console(stderr=True)
DataOpt = Annotated[Path, typer.Option("--data", help="State directory (SQLite inside).")]


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Directory for the four files.")],
    minutes: Annotated[float, typer.Option(help="Event-time minutes that stand for the day.")] = 10,
    rate: Annotated[float, typer.Option(help="Order lines per second on the plateau.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 7,
    scenarios: Annotated[str, typer.Option(help="all, none, or kinds a,b,...")] = "all",
) -> None:
    """Write a simulated Double-11 day: events, catalog, rates and ground-truth labels."""
    from warroom.sim import SCENARIOS, SimConfig
    from warroom.sim import simulate as run_sim

    chosen = _scenarios(scenarios, SCENARIOS)
    cfg = SimConfig(minutes=minutes, rate=rate, seed=seed, scenarios=chosen)
    with _bar("simulating", "events") as (progress, task):
        summary = run_sim(
            cfg,
            out,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    err.print_json(json.dumps(summary, default=str))


def _scenarios(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    if text == "all":
        return known
    if text == "none":
        return ()
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in known]
    if unknown:
        _fail(WarroomError(f"--scenarios: unknown {', '.join(unknown)}; known: {', '.join(known)}"))
    return chosen


@app.command()
def run(
    events: Annotated[
        str, typer.Option("--events", help="NDJSON, Arrow IPC or Parquet; - for stdin.")
    ],
    data: DataOpt,
    catalog: Annotated[Path | None, typer.Option(help="Catalog snapshot (NDJSON).")] = None,
    rates: Annotated[Path | None, typer.Option(help="Rates table (JSON).")] = None,
    lateness_ms: Annotated[int, typer.Option(help="Allowed lateness, event-time ms.")] = 5_000,
    batch_bytes: Annotated[int, typer.Option(help="NDJSON bytes read per batch.")] = 8 << 20,
    checkpoint_seconds: Annotated[
        float, typer.Option(help="Wall seconds between checkpoints.")
    ] = 2.0,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Replay events as fast as the machine allows; resumes from the last checkpoint."""
    from warroom.engine.config import EngineConfig
    from warroom.runner import Runner, RunOptions
    from warroom.sources.files import total_size

    opts = RunOptions(
        events=events,
        data_dir=data,
        rates=rates,
        catalog=catalog,
        config=EngineConfig(lateness_ms=lateness_ms),
        batch_bytes=batch_bytes,
        checkpoint_seconds=checkpoint_seconds,
    )
    try:
        runner = Runner(opts)
        total = total_size(events)
        if quiet or (not err.is_terminal and total is None):
            summary = runner.run()
        else:
            with _bar("replaying", "bytes", quiet) as (progress, task):
                progress.update(task, total=total, completed=runner.offset)
                summary = runner.run(lambda pos, _c: progress.update(task, completed=pos))
    except (WarroomError, OSError) as exc:
        _fail(exc)
        return
    c = summary.counters
    table = Table(title="warroom run", show_header=False)
    for label, value in (
        ("records read", c.read),
        ("accepted", c.accepted),
        ("quarantined", c.quarantined),
        ("duplicates", c.duplicates),
        ("late (past the lateness)", c.late),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("resumed after line", f"{summary.resumed_from_line:,}")
    table.add_row("seconds", f"{summary.seconds:.2f}")
    table.add_row("events/s", f"{summary.events_per_second:,.0f}")
    table.add_row("peak RSS", f"{summary.peak_rss_bytes / 2**20:,.0f} MiB")
    err.print(table)


@app.command()
def export(
    data: DataOpt,
    metric: Annotated[str, typer.Option(help="e.g. gmv, orders, payment_success_rate.")],
    by: Annotated[str, typer.Option(help="Up to two dimensions, comma-separated.")] = "",
    every: Annotated[str, typer.Option(help="1s, 1m or 1h.")] = "1s",
    fmt: Annotated[str, typer.Option("--format", help="csv or ndjson.")] = "csv",
) -> None:
    """Print a metric's series: window_start (epoch ms), the dimensions, value."""
    from warroom.contract.rates import RatesTable
    from warroom.series.query import SeriesQuery, run_query
    from warroom.store.db import Store

    if fmt not in ("csv", "ndjson"):
        _fail(WarroomError("--format: must be csv or ndjson"))
    dims = tuple(d.strip() for d in by.split(",") if d.strip())
    if not (data / "warroom.db").exists():
        _fail(WarroomError(f"--data: {data} holds no warroom state (run `warroom run` first)"))
    store = Store.open(data)
    stored_rates = store.get_meta("rates")
    digits = RatesTable.parse(stored_rates).base_digits if stored_rates else 2
    try:
        frame = run_query(store, SeriesQuery(metric=metric, by=dims, every=every), digits)
    except WarroomError as exc:
        _fail(exc)
        return
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    else:
        for row in frame.iter_rows(named=True):
            sys.stdout.write(json.dumps(row) + "\n")


@app.command()
def quarantine(
    data: DataOpt,
    fmt: Annotated[str, typer.Option("--format", help="ndjson or table.")] = "ndjson",
) -> None:
    """Print every quarantined record: source, line, reason and the raw bytes."""
    from warroom.store.db import Store

    store = Store.open(data)
    rows = list(store.quarantined())
    if fmt == "table":
        table = Table("source", "line", "reason")
        for r in rows:
            table.add_row(r["source"], str(r["line"]), r["reason"])
        Console().print(table)
        return
    for r in rows:
        raw: bytes = r["raw"]
        out = {"source": r["source"], "line": r["line"], "reason": r["reason"]}
        try:
            out["raw"] = raw.decode("utf-8")
        except UnicodeDecodeError:  # bytes that are not text stay recoverable
            out["raw"] = raw.decode("utf-8", "replace")
            out["raw_base64"] = base64.b64encode(raw).decode()
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


@app.command()
def late(data: DataOpt) -> None:
    """Print the records that came later than the allowed lateness (counted, not dropped)."""
    from warroom.store.db import Store

    for r in Store.open(data).late_records():
        sys.stdout.write(json.dumps(r) + "\n")


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="Events to generate and replay.")] = 2_000_000,
    workdir: Annotated[Path, typer.Option(help="Scratch directory.")] = Path("bench-data"),
    duckdb: Annotated[bool, typer.Option(help="Also time DuckDB on the same file.")] = True,
) -> None:
    """Generate events, replay them from NDJSON and Arrow, compare with DuckDB."""
    from warroom.bench import run_bench

    run_bench(events, workdir, with_duckdb=duckdb, console=Console())


@app.command()
def demo(
    speed: Annotated[float, typer.Option(help="Event-time seconds per wall second.")] = 10.0,
    minutes: Annotated[float, typer.Option(help="Length of the simulated day.")] = 20,
    rate: Annotated[float, typer.Option(help="Order lines per second on the plateau.")] = 30,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path(
        "demo-data"
    ),
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many wall seconds.")
    ] = None,
) -> None:
    """Simulate Double 11 live and show the war room's figures as they happen."""
    from warroom.live import run_demo

    run_demo(workdir, minutes=minutes, rate=rate, speed=speed, stop_after=seconds)


class _bar:
    """A Rich progress bar on stderr (or nothing when quiet)."""

    def __init__(self, label: str, unit: str, quiet: bool = False) -> None:
        columns = [
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
        ]
        if unit == "bytes":
            columns.append(TransferSpeedColumn())
        self.progress = Progress(*columns, console=err, disable=quiet)

    def __enter__(self) -> tuple[Progress, int]:
        self.progress.__enter__()
        return self.progress, self.progress.add_task(
            self.progress.columns[0].text_format, total=None
        )

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]


if __name__ == "__main__":
    app()
