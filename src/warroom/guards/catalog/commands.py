"""`warroom catalog ...`: the catalog guard's commands (registered in warroom.cli).

Heavy modules are imported inside each command, so `warroom --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

catalog_app = typer.Typer(
    no_args_is_help=True, help="Catalog guard: SKU scrambles, price errors, blast radius."
)
DataOpt = Annotated[Path, typer.Option("--data", help="State directory (SQLite inside).")]
FindingOpt = Annotated[str | None, typer.Option("--finding", help="Only this finding (alert id).")]


def _store(data: Path):  # type: ignore[no-untyped-def]
    from warroom.guards.catalog.store import CatalogStore
    from warroom.store.db import Store

    if not data.is_dir():
        typer.echo(f"error: --data {data}: no such state directory", err=True)
        raise typer.Exit(2)

    return CatalogStore(Store.open(data).engine)


def _digits(data: Path) -> int:
    from warroom.contract.rates import RatesTable
    from warroom.store.db import Store

    stored = Store.open(data).get_meta("rates")
    return RatesTable.parse(stored).base_digits if stored else 2


@catalog_app.command()
def check(
    events: Annotated[str, typer.Option("--events", help="Events (NDJSON, Arrow, Parquet).")],
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog snapshot (NDJSON).")],
    rates: Annotated[Path | None, typer.Option(help="Rates table (JSON).")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Keep state and findings here.")
    ] = None,
    alerts_out: Annotated[
        Path | None, typer.Option("--alerts-out", help="Alerts (NDJSON).")
    ] = None,
) -> None:
    """Replay events through the guard; print one line per finding."""
    from warroom.guards.catalog.attach import check_file

    fh = alerts_out.open("w", encoding="utf-8") if alerts_out else None
    try:
        guard = check_file(events, catalog, rates, data, fh)
    finally:
        if fh:
            fh.close()
    digits = guard.state.snap.rates.base_digits
    for f in guard.findings:
        typer.echo(f"{f.id} {f.kind} fired={f.fired} {f.alert(digits).summary}")
    typer.echo(f"{guard.changes} sku changes checked, {len(guard.findings)} findings", err=True)


@catalog_app.command()
def blast(
    data: DataOpt,
    merchant: Annotated[str | None, typer.Option(help="One merchant's CSV to stdout.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="One CSV per merchant.")] = None,
) -> None:
    """Blast radius: findings as JSON, or per-merchant CSV (--merchant / --out-dir)."""
    from warroom.guards.catalog import respond

    store, digits = _store(data), _digits(data)
    if merchant is not None:
        sys.stdout.write(respond.merchant_csv(store, merchant, digits))
        return
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        names = respond.merchants(store)
        for m in names:
            (out_dir / f"{m}.csv").write_text(respond.merchant_csv(store, m, digits))
        typer.echo(f"{len(names)} merchant files in {out_dir}", err=True)
        return
    for f in store.findings():
        shipped = sum(1 for o in store.orders(f["id"]) if o["shipped"])
        doc = {
            **f["alert"],
            "gmv_at_risk": f["gmv_at_risk"],
            "gmv_unshipped": f["gmv_unshipped"],
            "orders_shipped": shipped,
            "corroboration": f["corroboration"],
        }
        typer.echo(json.dumps(doc))


@catalog_app.command()
def restore(
    data: DataOpt,
    finding: FindingOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """The restore file: each affected SKU with its snapshot values (catalog NDJSON)."""
    from warroom.guards.catalog import respond

    text = respond.restore_text(respond.restore_lines(_store(data), finding))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


ByOpt = Annotated[
    str, typer.Option("--by", help="Who responds (recorded in the audit chain).", envvar="USER")
]
IncidentOpt = Annotated[
    int | None, typer.Option("--incident", help="Also on this incident's timeline.")
]


@catalog_app.command()
def respond(
    data: DataOpt,
    by: ByOpt = "unknown",
    finding: FindingOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the actions only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Actions as JSON.")] = False,
    incident: IncidentOpt = None,
) -> None:
    """The catalog plan for open findings: hold shipping of their unshipped orders,
    notify each merchant (its SKUs and restore values); `release` when fixed."""
    from warroom.guards.catalog import execute
    from warroom.guards.catalog import respond as plans

    store = _store(data)
    doc = execute.respond(
        store,
        execute.open_command(store),
        apply=not dry_run,
        by=by,
        finding_id=finding,
        base_digits=_digits(data),
        incident_id=incident,
    )
    sys.stdout.write(json.dumps(doc, indent=1) + "\n" if as_json else plans.plan_text(doc))


@catalog_app.command()
def release(
    data: DataOpt,
    by: ByOpt = "unknown",
    finding: FindingOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also findings not yet fixed (still firing).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what it would release.")
    ] = False,
    incident: IncidentOpt = None,
) -> None:
    """Release the shipping holds of the findings fixed since `respond` (resolved)."""
    from warroom.guards.catalog import execute

    store = _store(data)
    doc = execute.release(
        store,
        execute.open_command(store),
        apply=not dry_run,
        by=by,
        finding_id=finding,
        force=force,
        incident_id=incident,
    )
    verb = "would release" if dry_run else "released"
    for f in doc["findings"]:
        if f["released"]:
            typer.echo(f"{f['finding']}: {verb} {len(f['released'])} orders")
        else:
            typer.echo(f"{f['finding']}: not fixed yet, {len(f['held'])} orders stay held")
    if not doc["findings"]:
        typer.echo("nothing to release: no held orders", err=True)


@catalog_app.command(name="eval")
def evaluate(
    scenario_dir: Annotated[list[Path], typer.Option("--scenario-dir", help="Simulated run(s).")],
) -> None:
    """Score findings against labels: detection, time to detect, SKU precision/recall."""
    from warroom.guards.catalog.evaluate import evaluate_dir

    ok = True
    for scenario in scenario_dir:
        result = evaluate_dir(scenario)
        for inc in result["incidents"]:
            ttd = "-" if inc["ttd_ms"] is None else f"{inc['ttd_ms'] / 1000:.1f}s"
            typer.echo(
                f"{scenario.name} {inc['kind']:<13} detected={inc['detected']} ttd={ttd} "
                f"skus={inc['skus']} precision={inc['sku_precision']:.3f} "
                f"recall={inc['sku_recall']:.3f} order_recall={inc['order_recall']:.3f} "
                f"alerts={inc['alerts']}"
            )
            ok &= inc["detected"] and inc["sku_precision"] == inc["sku_recall"] == 1.0
        typer.echo(
            f"{scenario.name} sku_changes={result['sku_changes']} "
            f"unmatched_findings={len(result['unmatched_findings'])} "
            f"harmless_edit_findings={len(result['harmless_edit_findings'])}"
        )
        ok &= not result["unmatched_findings"] and not result["harmless_edit_findings"]
    if not ok:
        raise typer.Exit(1)


@catalog_app.command()
def bench(
    changes: Annotated[int, typer.Option(help="sku_change records to check.")] = 1_000_000,
    items: Annotated[int, typer.Option(help="Items in the synthetic catalog.")] = 50_000,
) -> None:
    """Time the guard over synthetic sku changes; prints the figures as JSON."""
    from warroom.guards.catalog import bench as run_bench

    typer.echo(json.dumps(run_bench.run(changes, items)))
