"""`warroom refunds ...`: what-if replays, evaluation, the latency benchmark, policy checks."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

refunds_app = typer.Typer(help="Worry-free refunds: policies, what-if replays, evaluation.")
err = Console(stderr=True)
PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", help="Refund policy (YAML); default: the shipped one.")
]
RatesOpt = Annotated[Path | None, typer.Option("--rates", help="Rates table (JSON).")]


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def _policy(path: Path | None):  # type: ignore[no-untyped-def]
    from warroom.errors import WarroomError
    from warroom.guards.refunds.policy import load_policy

    try:
        return load_policy(path)
    except WarroomError as exc:
        _fail(exc)


@refunds_app.command("check")
def check(policy: Annotated[Path, typer.Argument(help="A policy file (YAML).")]) -> None:
    """Validate a policy file; print it with every default filled in."""
    p = _policy(policy)
    sys.stdout.write(json.dumps(p.model_dump(mode="json"), indent=1) + "\n")


@refunds_app.command("replay")
def replay(
    events: Annotated[Path, typer.Option("--events", help="NDJSON, Arrow IPC or Parquet.")],
    policy: Annotated[Path, typer.Option("--policy", help="The new policy (YAML).")],
    base_policy: Annotated[
        Path | None, typer.Option("--base-policy", help="Compared with (default: shipped).")
    ] = None,
    rates: RatesOpt = None,
    top: Annotated[int, typer.Option(help="Buyers who move, listed.")] = 20,
) -> None:
    """How decisions would change under a new policy: counts, money, buyers who move."""
    from warroom.guards.refunds.replay import what_if

    old, new = _policy(base_policy), _policy(policy)
    if not events.exists():
        _fail(FileNotFoundError(f"--events: {events} does not exist"))
    w = what_if(events, old, new, rates)

    def money(minor: int) -> str:
        return f"{Decimal(minor).scaleb(-w.digits):,.{w.digits}f} {w.base}"

    out = Console(width=max(Console().width, 120))
    t = Table("", f"now ({old.name})", f"what if ({new.name})", "change", title="refund decisions")
    for label, a, b, fmt in (
        ("approved at once", w.old.approve, w.new.approve, str),
        ("sent to review", w.old.review, w.new.review, str),
        ("paid at once", w.old.approved_minor, w.new.approved_minor, money),
        ("held for review", w.old.held_minor, w.new.held_minor, money),
    ):
        sign = "+" if b >= a else "-"
        t.add_row(label, fmt(a), fmt(b), sign + fmt(abs(b - a)))
    out.print(t)
    out.print(f"{w.changed:,} refunds change decision; {len(w.movers):,} buyers move")
    if w.movers:
        m = Table("buyer", "to review", "to approve", "amount moved", title="buyers who move")
        for mv in w.movers[:top]:
            m.add_row(mv.user_id, str(mv.to_review), str(mv.to_approve), money(mv.amount_minor))
        out.print(m)


@refunds_app.command("eval")
def evaluate(
    scenario_dir: Annotated[
        list[Path],
        typer.Option("--scenario-dir", help="`warroom simulate` output(s), or their parent."),
    ],
    policy: PolicyOpt = None,
) -> None:
    """Replay simulated days; print honest-approved share and ring precision/recall per seed."""
    from warroom.guards.refunds.evaluate import evaluate_dir, scenario_dirs

    p = _policy(policy)
    dirs = scenario_dirs(scenario_dir)
    if not dirs:
        _fail(FileNotFoundError("--scenario-dir: no labels.json found"))
    t = Table(
        "scenario",
        "refunds",
        "honest approved",
        "returners approved",
        "shared addr. approved",
        "ring buyers",
        "held buyers",
        "precision",
        "recall",
        title=f"worry-free refunds ({p.name})",
    )
    for d in dirs:
        s = evaluate_dir(d, p)
        t.add_row(
            s.scenario,
            f"{s.refunds:,}",
            f"{s.honest_approved_share:.2%} of {s.honest_refunds:,}",
            f"{s.returner_approved_share:.2%} of {s.returner_refunds:,}",
            f"{s.shared_address_approved_share:.2%} of {s.shared_address_refunds:,}",
            str(s.ring_buyers),
            str(s.held_buyers),
            f"{s.precision:.3f}",
            f"{s.recall:.3f}",
        )
        err.print(json.dumps(s.row()), soft_wrap=True)
    Console(width=max(Console().width, 140)).print(t)


@refunds_app.command("bench")
def bench(
    scenario_dir: Annotated[
        Path | None, typer.Option("--scenario-dir", help="Use this simulated day.")
    ] = None,
    minutes: Annotated[float, typer.Option(help="Else simulate a day this long...")] = 10,
    rate: Annotated[float, typer.Option(help="...at this many order lines per second.")] = 100,
    seed: Annotated[int, typer.Option(help="...from this seed.")] = 7,
    policy: PolicyOpt = None,
) -> None:
    """Decision latency in process: p50 / p99 / max per refund, and guard throughput."""
    import tempfile

    from warroom.guards.refunds.bench import bench_latency

    p = _policy(policy)
    with tempfile.TemporaryDirectory(prefix="warroom-refunds-bench-") as tmp:
        d = scenario_dir
        if d is None:
            from warroom.sim import SimConfig, simulate

            d = Path(tmp)
            simulate(SimConfig(minutes=minutes, rate=rate, seed=seed), d)
        rates = d / "rates.json"
        r = bench_latency(d / "events.ndjson", p, rates if rates.exists() else None)
    Console().print(
        f"refund decisions: {r.refunds:,}  latency p50 {r.p50_us:,.1f} µs  "
        f"p99 {r.p99_us:,.1f} µs  max {r.max_us:,.1f} µs\n"
        f"guard over {r.records:,} records: {r.guard_seconds:.2f} s "
        f"({r.records_per_second:,.0f} records/s, state updates included)"
    )


DataOpt = Annotated[Path, typer.Option("--data", help="State directory (SQLite inside).")]


@refunds_app.command("queue")
def queue(
    data: DataOpt,
    status: Annotated[
        str, typer.Option(help="pending, approved, approved_by_reviewer, rejected")
    ] = "pending",
    limit: Annotated[int, typer.Option(help="Rows printed.")] = 100,
) -> None:
    """Print stored decisions with a status (riskiest first), one JSON object a line."""
    from warroom.guards.refunds.queue import ReviewQueue
    from warroom.store.db import Store

    if not (data / "warroom.db").exists():
        _fail(FileNotFoundError(f"--data: {data} holds no warroom state"))
    for row in ReviewQueue(Store.open(data).engine).list(status=status, limit=limit):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@refunds_app.command("verdict")
def verdict(
    data: DataOpt,
    refund_id: Annotated[str, typer.Argument(help="The refund's refund_id.")],
    decision: Annotated[str, typer.Argument(help="approve or reject")],
    note: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Approve or reject a held refund from the command line (audited, actor `cli`)."""
    from warroom.errors import WarroomError
    from warroom.guards.refunds.queue import ReviewQueue
    from warroom.store.db import Store

    q = ReviewQueue(Store.open(data).engine)
    try:
        row = q.resolve(refund_id=refund_id, verdict=decision, actor="cli", note=note)
    except WarroomError as exc:
        _fail(exc)
        return
    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
