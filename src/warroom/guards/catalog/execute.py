"""The catalog plan run through the command layer: hold, notify, release when fixed.

`respond(..., apply=False)` is the dry run and `apply=True` the real run; both walk the
same code and ask the same command actions (`hold_shipping`, `notify_merchants`) for
their targets, the dry run through `dry_run`, the real run through `apply`, so the dry
run lists exactly what the real run does (unless the data moves in between).

Not a plan run (`command/runs.py`): a plan step waits for a second person's approval,
and the catalog response is the on-call's own command. Its rows are the command
layer's all the same: holds in `cmd_held_orders` (ref `catalog:<finding>/hold`), one
notice per merchant in `cmd_merchant_outbox` (ref `catalog:<finding>/notify`), and
every action in the audit chain (on an incident's timeline when one is given).

The orders come from the finding's blast radius (`BlastOrders`), not from command's
own order index: `warroom run --catalog-alerts-out` fills the first and not the second.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from warroom.command.actions.base import ActionContext, Touch
from warroom.command.actions.merchants import CANCELLED, NotifyMerchants, outbox
from warroom.command.actions.shipping import HoldShipping, held_orders
from warroom.command.orders import SHIPPED, Scope, shipped_among
from warroom.command.service import Command
from warroom.guards.catalog.respond import _natural, _selected, _values
from warroom.guards.catalog.store import CatalogStore


class BlastOrders:
    """An `OrderSource` (command/orders.py) over the persisted blast radius of findings.

    An order counts as shipped when the guard saw a shipment for it, or when command's
    own index did (the server feeds both; the index may be a step ahead)."""

    def __init__(self, store: CatalogStore, engine: sa.Engine) -> None:
        self.store, self.engine = store, engine

    def _lines(self, scope: Scope) -> list[dict[str, Any]]:
        if not scope.narrows_orders():
            return []  # as SqlOrderSource: an empty scope is never "every order"
        out = []
        for o in self.store.orders():
            if (
                (not scope.orders or o["order_id"] in scope.orders)
                and (not scope.skus or o["sku_id"] in scope.skus)
                and (not scope.merchants or o["merchant_id"] in scope.merchants)
                and (scope.since is None or o["ts"] >= scope.since)
                and not scope.regions  # the blast radius keeps no region or campaign
                and not scope.campaigns
            ):
                out.append(o)
        return out

    def orders_in(self, scope: Scope, *, unshipped: bool = False) -> list[str]:
        lines = self._lines(scope)
        found = {o["order_id"] for o in lines}
        if unshipped:
            shipped = {o["order_id"] for o in lines if o["shipped"]}
            with self.engine.connect() as c:
                shipped |= shipped_among(c, sorted(found - shipped), SHIPPED)
            found -= shipped
        return sorted(found)

    def merchants_in(self, scope: Scope) -> list[str]:
        return sorted(set(scope.merchants) | {o["merchant_id"] for o in self._lines(scope)})


def hold_ref(finding_id: str) -> str:
    return f"catalog:{finding_id}/hold"


def notify_ref(finding_id: str) -> str:
    return f"catalog:{finding_id}/notify"


def open_command(store: CatalogStore) -> Command:
    """The command layer on the store's database, its orders from the blast radius."""
    return Command.open(engine=store.engine, orders=BlastOrders(store, store.engine))


def respond(
    store: CatalogStore,
    command: Command,
    *,
    apply: bool,
    by: str,
    finding_id: str | None = None,
    base_digits: int = 2,
    incident_id: int | None = None,
) -> dict[str, Any]:
    """The catalog plan for the open findings; with `apply`, done and audited."""
    ctx = ActionContext(command.engine, command.clock, command.orders)
    hold, notify = HoldShipping(), NotifyMerchants()
    actions: list[dict[str, Any]] = []
    for f in _selected(store, finding_id, open_only=True):
        fid, lines = f["id"], store.orders(f["id"])
        scope = Scope(orders=tuple(sorted({o["order_id"] for o in lines})))
        ref = hold_ref(fid)
        t = (
            hold.apply(ctx, scope=scope, args={}, ref=ref)
            if apply
            else hold.dry_run(ctx, scope=scope, args={})
        )
        held = t.ids["orders"]
        held_set = set(held)
        gmv = sum(o["value_base"] for o in lines if o["order_id"] in held_set)
        actions.append(
            {
                "action": "hold_shipping",
                "finding": fid,
                "ref": ref,
                "orders": held,
                "gmv": str(Decimal(gmv).scaleb(-base_digits)),
            }
        )
        _audit(command, apply, by, "catalog.hold", fid, t, incident_id)
        # on the finding now: held by this response (earlier runs included)
        on_hold = set(held_orders(command.engine, ref=ref)) | set(held)
        notices = outbox(command.engine, ref=notify_ref(fid))
        queued = {n["merchant_id"] for n in notices if n["state"] != CANCELLED}
        by_merchant: dict[str, list[dict[str, Any]]] = {}
        for row in store.skus(fid):
            if not row["restored"]:
                by_merchant.setdefault(row["merchant_id"], []).append(
                    {"sku_id": row["sku_id"], "restore": row["restore"], "now": row["current"]}
                )
        for merchant in sorted(by_merchant, key=_natural):
            if merchant in queued:
                continue  # notified by an earlier response: once per finding
            mine = {o["order_id"] for o in lines if o["merchant_id"] == merchant}
            skus = by_merchant[merchant]
            orders_held = sorted(mine & on_hold, key=_natural)
            message = notice(f, skus, orders_held)
            m_scope, args = Scope(merchants=(merchant,)), {"message": message}
            t = (
                notify.apply(ctx, scope=m_scope, args=args, ref=notify_ref(fid))
                if apply
                else notify.dry_run(ctx, scope=m_scope, args=args)
            )
            actions.append(
                {
                    "action": "notify_merchant",
                    "finding": fid,
                    "ref": notify_ref(fid),
                    "merchant": merchant,
                    "merchants": t.ids["merchants"],
                    "skus": skus,
                    "orders_held": orders_held,
                    "message": message,
                }
            )
            _audit(command, apply, by, "catalog.notify", fid, t, incident_id)
        actions.append(
            {
                "action": "release_when_fixed",
                "finding": fid,
                "ref": ref,
                "condition": "every SKU of the finding is back at its snapshot values "
                "(the alert resolves); then `warroom catalog release`",
                "orders": sorted(on_hold, key=_natural),
            }
        )
    return {"dry_run": not apply, "actions": actions}


def notice(finding: dict[str, Any], skus: list[dict[str, Any]], held: list[str]) -> str:
    """What one merchant reads: its SKUs, the values to restore, its orders on hold."""
    what = "scrambled" if finding["kind"] == "sku_scramble" else "priced in error"
    lines = [f"Catalog alert {finding['id']}: {len(skus)} of your SKUs were {what}."]
    lines += [f"restore {s['sku_id']} -> {_values(s['restore'])}" for s in skus]
    lines.append(f"{len(held)} of your orders are held until they are restored.")
    return "\n".join(lines)


def release(
    store: CatalogStore,
    command: Command,
    *,
    apply: bool,
    by: str,
    finding_id: str | None = None,
    force: bool = False,
    incident_id: int | None = None,
) -> dict[str, Any]:
    """Release the holds of the findings that are fixed (resolved), or of any finding
    with `force`. What was held and by whom stays in `cmd_held_orders`."""
    hold, ctx = HoldShipping(), ActionContext(command.engine, command.clock, command.orders)
    out: list[dict[str, Any]] = []
    for f in _selected(store, finding_id, open_only=False):
        ref = hold_ref(f["id"])
        held = held_orders(command.engine, ref=ref)
        if not held:
            continue
        fixed = f["state"] == "resolved"
        if not fixed and not force:
            out.append({"finding": f["id"], "ref": ref, "released": [], "held": held})
            continue
        if apply:
            t = hold.undo(ctx, ref=ref, applied=Touch("hold_shipping", {}, {}))
            released = t.ids["orders"]
            _audit(command, True, by, "catalog.release", f["id"], t, incident_id)
        else:
            released = held
        out.append({"finding": f["id"], "ref": ref, "released": released, "held": []})
    return {"dry_run": not apply, "findings": out}


def _audit(
    command: Command,
    apply: bool,
    by: str,
    action: str,
    finding_id: str,
    touched: Touch,
    incident_id: int | None,
) -> None:
    if apply:
        command.incidents.record(
            actor=by,
            action=action,
            target=f"catalog:{finding_id}",
            detail=json.dumps(touched.counts, sort_keys=True),
            incident_id=incident_id,
            kind="step",
            data=touched.public(),
        )
