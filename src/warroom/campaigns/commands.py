"""`warroom campaigns check|load|progress|watch` and `warroom review`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from warroom.errors import WarroomError

if TYPE_CHECKING:
    from warroom.campaigns.model import CampaignFile
    from warroom.store.db import Store

campaigns_app = typer.Typer(help="Campaigns: define, check, follow against plan.")
err = Console(stderr=True)
DataOpt = Annotated[Path, typer.Option("--data", help="State directory (SQLite inside).")]
FileArg = Annotated[Path, typer.Argument(help="Campaigns file (YAML).")]
DayMinutes = Annotated[
    float | None,
    typer.Option(help="Event-time minutes the compressed day lasts (overrides the file)."),
]


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(2)


def _store(data: Path) -> Store:
    from warroom.store.db import Store  # late: keeps `warroom --help` quick

    if not (data / "warroom.db").exists():
        _fail(WarroomError(f"--data: {data} holds no warroom state (run `warroom run` first)"))
    return Store.open(data)


def _file(path: Path, day_minutes: float | None) -> CampaignFile:
    from warroom.campaigns.model import Compression, load_file

    f = load_file(path)
    if day_minutes is not None:
        origin = f.compress.origin if f.compress else None
        if origin is None:
            raise WarroomError(f"{path}: compress.origin is needed to use --day-minutes")
        f = f.model_copy(update={"compress": Compression(origin=origin, day_minutes=day_minutes)})
    return f


@campaigns_app.command("check")
def check(file: FileArg) -> None:
    """Validate a campaigns file; errors name the file, the field and the rule."""
    try:
        f = _file(file, None)
    except WarroomError as exc:
        _fail(exc)
        return
    sys.stdout.write(f"{file}: {len(f.campaigns)} campaigns OK\n")


@campaigns_app.command("load")
def load(data: DataOpt, file: FileArg, day_minutes: DayMinutes = None) -> None:
    """Store a campaigns file in a state directory (what the API and the wall show)."""
    from warroom.campaigns.service import CampaignBook

    try:
        f = _file(file, day_minutes)
        CampaignBook(_store(data)).replace_all(f)
    except WarroomError as exc:
        _fail(exc)
        return
    sys.stdout.write(f"{len(f.campaigns)} campaigns loaded into {data}\n")


@campaigns_app.command("progress")
def progress(
    data: DataOpt,
    file: Annotated[Path | None, typer.Option("--campaigns", help="Instead of the stored.")] = None,
    day_minutes: DayMinutes = None,
    alerts: Annotated[bool, typer.Option(help="Print behind-plan alerts instead.")] = False,
) -> None:
    """Print each campaign's progress (NDJSON), or its behind-plan alert records."""
    from warroom.campaigns.progress import evaluate
    from warroom.campaigns.service import BehindPlanWatch, CampaignBook, paused_states, stored_rates

    try:
        store = _store(data)
        book = CampaignBook(store)
        f = _file(file, day_minutes) if file else book.file
        from warroom.campaigns.model import Clock

        rates = stored_rates(store)
        got = evaluate(
            store,
            f.campaigns,
            Clock(f.compress),
            states=paused_states(store.engine),
            digits=rates.base_digits,
            minor_digits=rates.minor_digits,
        )
    except WarroomError as exc:
        _fail(exc)
        return
    rows = BehindPlanWatch().step(got) if alerts else [p.to_json() for p in got]
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")


def review(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="The HTML report to write.")],
    campaigns: Annotated[
        Path | None, typer.Option("--campaigns", help="Campaigns file (default: the stored).")
    ] = None,
    day_minutes: DayMinutes = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            "--alerts", help="Alert records (NDJSON), listed beside the store's incidents."
        ),
    ] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also print it to PDF.")] = None,
) -> None:
    """After the day: per campaign target against actual, hours won and lost, money per
    currency, incidents and their timelines (from the store), the rates used."""
    from warroom.campaigns.review import read_alerts, render, to_pdf
    from warroom.campaigns.service import CampaignBook

    try:
        store = _store(data)
        f = _file(campaigns, day_minutes) if campaigns else CampaignBook(store).file
        if not f.campaigns:
            raise WarroomError("no campaigns: pass --campaigns FILE or `campaigns load` first")
        out.write_text(render(store, f, read_alerts(alerts)))
        if pdf is not None:
            to_pdf(out, pdf)
    except WarroomError as exc:
        _fail(exc)
        return
    sys.stdout.write(f"wrote {out}" + (f" and {pdf}" if pdf else "") + "\n")
