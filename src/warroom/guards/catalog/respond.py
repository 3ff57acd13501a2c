"""The response, from the persisted findings: restore file, catalog plan, merchant CSVs.

The plan is what the command layer will run: hold shipping of the affected orders not
yet shipped, notify each merchant with its SKUs and their restore values, release the
holds when the guard sees the SKUs back at the snapshot (the alert resolves). For
the API's `/plan` this module's `plan` describes the actions; `execute.py` runs them
through the command layer (`warroom catalog respond`, `--dry-run` to list them).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from warroom.guards.catalog.store import CatalogStore

CSV_FIELDS = (
    "finding_id",
    "kind",
    "merchant_id",
    "sku_id",
    "order_id",
    "ts",
    "quantity",
    "value_base",
    "shipped",
    "shows_new_attrs",
    "refund_reason",
)


def _selected(store: CatalogStore, finding_id: str | None, open_only: bool) -> list[dict]:
    found = store.findings(state="firing" if open_only else None)
    return [f for f in found if finding_id is None or f["id"] == finding_id]


def restore_lines(store: CatalogStore, finding_id: str | None = None) -> list[dict[str, Any]]:
    """One catalog-snapshot line per affected SKU with the snapshot's values (the shape
    of catalog.ndjson, so the file can be loaded back as a change set)."""
    out: dict[str, dict[str, Any]] = {}
    for f in _selected(store, finding_id, open_only=False):
        for row in store.skus(f["id"]):
            line = out.setdefault(
                row["sku_id"],
                {
                    "merchant_id": row["merchant_id"],
                    "item_id": row["item_id"],
                    "sku_id": row["sku_id"],
                    **row["restore"],
                    "findings": [],
                },
            )
            line["findings"].append(f["id"])
    return [out[s] for s in sorted(out, key=_natural)]


def restore_text(lines: list[dict[str, Any]]) -> str:
    """NDJSON with prices as JSON numbers written from their exact decimal text."""
    parts = []
    for line in lines:
        body = {k: v for k, v in line.items() if k != "price"}
        text = json.dumps(body, sort_keys=True)
        if "price" in line:
            text = text[:-1] + f', "price": {line["price"]}}}'
        parts.append(text)
    return "".join(p + "\n" for p in parts)


def plan(store: CatalogStore, finding_id: str | None = None, base_digits: int = 2) -> dict:
    """The catalog plan's actions for the open findings, in the order they would run."""
    actions: list[dict[str, Any]] = []
    for f in _selected(store, finding_id, open_only=True):
        orders = store.orders(f["id"])
        waiting = sorted({o["order_id"] for o in orders if o["shipped"] is None}, key=_natural)
        held_gmv = sum(o["value_base"] for o in orders if o["shipped"] is None)
        actions.append(
            {
                "action": "hold_shipping",
                "finding": f["id"],
                "orders": waiting,
                "gmv": str(Decimal(held_gmv).scaleb(-base_digits)),
            }
        )
        by_merchant: dict[str, list[dict[str, Any]]] = {}
        for row in store.skus(f["id"]):
            if not row["restored"]:
                by_merchant.setdefault(row["merchant_id"], []).append(
                    {"sku_id": row["sku_id"], "restore": row["restore"], "now": row["current"]}
                )
        for merchant in sorted(by_merchant, key=_natural):
            mine = {o["order_id"] for o in orders if o["merchant_id"] == merchant}
            actions.append(
                {
                    "action": "notify_merchant",
                    "finding": f["id"],
                    "merchant": merchant,
                    "skus": by_merchant[merchant],
                    "orders_held": sorted(mine & set(waiting), key=_natural),
                }
            )
        actions.append(
            {
                "action": "release_when_fixed",
                "finding": f["id"],
                "condition": "every SKU of the finding is back at its snapshot values "
                "(the alert resolves); then release the held orders",
                "orders": waiting,
            }
        )
    return {"dry_run": True, "actions": actions}


def plan_text(doc: dict[str, Any]) -> str:
    lines = []
    for a in doc["actions"]:
        if a["action"] == "hold_shipping":
            lines.append(
                f"HOLD shipping of {len(a['orders'])} orders (GMV {a['gmv']}) "
                f"for {a['finding']}: {' '.join(a['orders'])}"
            )
        elif a["action"] == "notify_merchant":
            skus = "; ".join(f"{s['sku_id']} -> {_values(s['restore'])}" for s in a["skus"])
            lines.append(
                f"NOTIFY {a['merchant']}: restore {len(a['skus'])} SKUs: {skus}"
                f" ({len(a['orders_held'])} orders held)"
            )
        else:
            lines.append(f"RELEASE {len(a['orders'])} orders of {a['finding']} when fixed")
    if lines and doc.get("dry_run") is False:  # the real run: say it was done
        lines.insert(0, "done (command layer, audited):")
    return "\n".join(lines) + ("\n" if lines else "nothing to do: no open catalog finding\n")


def merchant_csv(store: CatalogStore, merchant: str, base_digits: int = 2) -> str:
    """The blast radius of one merchant: one row per order line on its affected SKUs."""
    return blast_csv(store, base_digits, merchant=merchant)


def blast_csv(
    store: CatalogStore,
    base_digits: int = 2,
    merchant: str | None = None,
    finding_id: str | None = None,
) -> str:
    """Order lines of the blast radius (of a merchant and/or a finding) as CSV."""
    kinds = {f["id"]: f["kind"] for f in store.findings()}
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_FIELDS)
    for o in store.orders(finding_id, merchant=merchant):
        out.writerow(
            [
                o["finding_id"],
                kinds.get(o["finding_id"], ""),
                o["merchant_id"],
                o["sku_id"],
                o["order_id"],
                o["ts"],
                o["quantity"],
                str(Decimal(o["value_base"]).scaleb(-base_digits)),
                o["shipped"] or "",
                "true" if o["shows_new"] else "false",
                o["refund_reason"] or "",
            ]
        )
    return buf.getvalue()


def merchants(store: CatalogStore) -> list[str]:
    return sorted({row["merchant_id"] for row in store.skus()}, key=_natural)


def _values(values: dict[str, Any]) -> str:
    attrs = ",".join(f"{k}={v}" for k, v in sorted(values.get("attrs", {}).items()))
    price = f" {values['price']} {values['currency']}" if "price" in values else ""
    return attrs + price


def _natural(text: str) -> tuple[str, int, str]:
    head, _, tail = text.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (text, 0, text)
