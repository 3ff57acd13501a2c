"""`warroom plans ...`, `warroom audit ...`, `warroom broadcast ...`: the command CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:  # sqlalchemy costs every command ~0.15 s to import; few need it
    import sqlalchemy as sa

err = Console(stderr=True)
DataOpt = Annotated[Path, typer.Option("--data", help="State directory (SQLite inside).")]

plans_app = typer.Typer(help="Emergency plans (YAML): check them.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
broadcast_app = typer.Typer(help="The broadcast channel.", no_args_is_help=True)


@plans_app.command("check")
def plans_check(
    directory: Annotated[Path, typer.Argument(help="Directory of *.yaml plans.")],
) -> None:
    """Validate every plan; each error names the file, the line and the rule. Exit 1 on any."""
    from warroom.command.plancheck import check_dir

    if not directory.is_dir():
        err.print(f"[bold red]error:[/] {directory} is not a directory")
        raise typer.Exit(2)
    plans, issues = check_dir(directory)
    for issue in issues:
        sys.stdout.write(f"{issue}\n")
    err.print(f"{len(plans)} plans valid, {len(issues)} errors")
    if issues:
        raise typer.Exit(1)


def _store_engine(data: Path) -> sa.Engine:
    from warroom.store.db import Store

    if not (data / "warroom.db").exists():
        err.print(f"[bold red]error:[/] --data: {data} holds no warroom state")
        raise typer.Exit(2)
    return Store.open(data).engine


@audit_app.command("verify")
def audit_verify(data: DataOpt) -> None:
    """Check the audit chain; name the first tampered row. Exit 1 if tampered."""
    from warroom.command.audit_chain import AuditChain

    chain = AuditChain(_store_engine(data))
    tampered = chain.verify()
    if tampered is None:
        rows = chain.rows()
        sys.stdout.write(f"ok: {len(rows)} rows, head {chain.head()}\n")
        return
    sys.stdout.write(f"tampered: row {tampered.seq}: {tampered.reason}\n")
    raise typer.Exit(1)


@broadcast_app.command("ack")
def broadcast_ack(
    data: DataOpt,
    message: Annotated[int, typer.Option("--message", help="The message id.")],
    person: Annotated[str, typer.Option("--person", help="Who acknowledges.")],
) -> None:
    """Acknowledge a broadcast message as PERSON."""
    from warroom.command.service import Command
    from warroom.errors import WarroomError

    try:
        first = Command.open(engine=_store_engine(data)).broadcast.acknowledge(
            message_id=message, person=person
        )
    except WarroomError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    sys.stdout.write(json.dumps({"message": message, "person": person, "first": first}) + "\n")


@broadcast_app.command("bench")
def broadcast_bench(
    clients: Annotated[int, typer.Option(help="SSE clients on 127.0.0.1.")] = 200,
    messages: Annotated[int, typer.Option(help="Messages sent to everyone.")] = 100,
    drop_share: Annotated[float, typer.Option(help="Share of connections dropped.")] = 0.3,
    interval: Annotated[float, typer.Option(help="Seconds between messages.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the drops.")] = 7,
) -> None:
    """Fan-out under drops: every client every message once; p99 ≤ 1 s. Exit 1 if not."""
    from warroom.command.bench import bench

    out = bench(
        clients=clients, messages=messages, drop_share=drop_share, interval=interval, seed=seed
    )
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    if not out["ok"]:
        raise typer.Exit(1)
