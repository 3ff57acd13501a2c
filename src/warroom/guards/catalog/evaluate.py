"""Score the guard's findings against a simulated run's labels and hard cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warroom.guards.catalog.finding import KINDS, Finding


def score(findings: list[Finding], labels: list[dict], hard: dict[str, Any]) -> dict[str, Any]:
    """Per injected incident: detected, time to detect (first firing whose SKUs meet the
    label's, minus the label's start), SKU precision and recall over the findings of its
    kind that meet it, order recall. Plus findings that meet no label, and findings on
    the harmless edits (the consistent rename, the routine price syncs)."""
    incidents = []
    matched: set[int] = set()
    for label in labels:
        if label["kind"] not in KINDS:
            continue
        want = set(label["entities"].get("skus", []))
        hits = [f for f in findings if f.kind == label["kind"] and want & set(f.skus)]
        matched.update(id(f) for f in hits)
        got = set().union(*(set(f.skus) for f in hits)) if hits else set()
        orders_want = set(label["entities"].get("orders", []))
        orders_got = set().union(*(set(f.orders()) for f in hits)) if hits else set()
        incidents.append(
            {
                "kind": label["kind"],
                "start": label["start"],
                "detected": bool(hits),
                "ttd_ms": min(f.fired for f in hits) - label["start"] if hits else None,
                "skus": len(want),
                "sku_precision": len(got & want) / len(got) if got else 0.0,
                "sku_recall": len(got & want) / len(want) if want else 1.0,
                "order_recall": len(orders_got & orders_want) / len(orders_want)
                if orders_want
                else 1.0,
                "alerts": len(hits),
            }
        )
    harmless = hard.get("harmless_batch_edits", {})
    renamed = set(harmless.get("size_rename", {}).get("skus", []))
    sync_actor = harmless.get("price_sync_actor")
    labelled = {s for lab in labels for s in lab["entities"].get("skus", [])}
    on_harmless = [
        f.id
        for f in findings
        if (f.kind == "sku_scramble" and (set(f.skus) & renamed) - labelled)
        or (sync_actor is not None and f.actor == sync_actor)
    ]
    return {
        "incidents": incidents,
        "unmatched_findings": [f.id for f in findings if id(f) not in matched],
        "harmless_edit_findings": on_harmless,
    }


def evaluate_dir(scenario: Path, data_dir: Path | None = None) -> dict[str, Any]:
    from warroom.guards.catalog.attach import check_file

    guard = check_file(
        str(scenario / "events.ndjson"),
        scenario / "catalog.ndjson",
        scenario / "rates.json",
        data_dir,
    )
    labels = json.loads((scenario / "labels.json").read_text())
    hard_path = scenario / "hard_cases.json"
    hard = json.loads(hard_path.read_text()) if hard_path.exists() else {}
    out = score(guard.findings, labels, hard)
    out["scenario"] = str(scenario)
    out["sku_changes"] = guard.changes
    return out
