"""`warroom catalog respond` / `release` through the command layer: the real run holds
and notifies exactly what the dry run listed, a shipment of a held order is a
violation, and the holds are released once the finding is fixed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from test_catalog_guard import COLOURS, SIZES, Stream, T, busy_day, run, snap  # noqa: F401
from warroom.cli import app
from warroom.command.actions.merchants import outbox
from warroom.command.actions.shipping import held_orders, observe, violations
from warroom.command.audit_chain import AuditChain
from warroom.command.orders import SqlOrderSource
from warroom.contract.decode import Decoder
from warroom.engine.config import EngineConfig
from warroom.engine.engine import Engine
from warroom.guards.catalog.execute import hold_ref, notify_ref
from warroom.guards.catalog.store import CatalogStore
from warroom.store.db import Store

cli = CliRunner()


def restored(stream: Stream) -> Stream:
    """The busy day, then every scrambled SKU put back at +50 s."""
    grid = list(itertools.product(COLOURS, SIZES))
    for m in range(12):
        for k, (c, s) in enumerate(grid):
            c2, s2 = grid[k - 1]
            stream.change(
                T + 50_000 + m,
                f"s-{m}-{k}",
                {"attrs": {"color": c2, "size": s2}},
                {"attrs": {"color": c, "size": s}},
                "merchant:fix",
            )
    stream.order(T + 60_000, "o-late", "s-3-0")
    return stream


def invoke(*args: str) -> dict:
    r = cli.invoke(app, ["catalog", *args, "--by", "oncall"])
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def data(snap, rates, tmp_path: Path) -> Path:  # noqa: F811
    state = tmp_path / "state"
    state.mkdir()
    CatalogStore(Store.open(state).engine).save(run(snap, rates, busy_day()).findings, 2)
    return state


def test_respond_does_what_the_dry_run_listed(data: Path, snap, rates) -> None:  # noqa: F811
    dry = json.loads(invoke("respond", "--data", str(data), "--dry-run", "--json").stdout)
    engine = Store.open(data).engine
    assert dry["dry_run"] is True and held_orders(engine) == []  # nothing written
    real = json.loads(invoke("respond", "--data", str(data), "--json").stdout)
    assert real["dry_run"] is False
    assert real["actions"] == dry["actions"]  # counts, ids and messages alike
    hold, *notify, release = real["actions"]
    (finding,) = CatalogStore(engine).findings()
    fid = finding["id"]
    assert len(hold["orders"]) == 67 and "o-25" not in hold["orders"]  # o-25 shipped
    assert held_orders(engine, ref=hold_ref(fid)) == sorted(hold["orders"])
    notices = outbox(engine, ref=notify_ref(fid))
    assert [n["merchant_id"] for n in notices] == [a["merchant"] for a in notify]
    assert len(notices) == 12 and {n["state"] for n in notices} == {"pending"}
    m0 = notices[0]["message"]
    assert "restore s-0-0 -> color=red,size=M 100.00 CNY" in m0
    assert "67 of your orders are held" in m0
    assert release["orders"] == hold["orders"]
    audit = [r for r in AuditChain(engine).rows() if r["action"].startswith("catalog.")]
    assert [r["action"] for r in audit] == ["catalog.hold"] + ["catalog.notify"] * 12
    assert json.loads(audit[0]["detail"]) == {"orders": 67}
    assert AuditChain(engine).verify() is None

    # a second response finds nothing new: the holds and notices are there
    again = json.loads(invoke("respond", "--data", str(data), "--json").stdout)
    assert again["actions"][0]["orders"] == [] and len(again["actions"]) == 2
    assert len(outbox(engine)) == 12

    # a shipment of a held order is a violation (as the server's stream would feed it)
    line = {
        "type": "shipment",
        "id": "e-ship",
        "ts": T + 45_000,
        "order_id": hold["orders"][0],
        "merchant_id": "m-0",
        "status": "shipped",
    }
    step = Engine(EngineConfig()).process(
        Decoder(rates).decode_ndjson(json.dumps(line).encode() + b"\n", 1)
    )
    assert observe(engine, step.records) == 1
    assert observe(engine, step.records) == 1  # re-fed: still one violation row
    (v,) = violations(engine)
    assert v["order_id"] == hold["orders"][0] and v["ref"] == hold_ref(fid)

    # not fixed yet: release keeps the holds
    out = cli.invoke(app, ["catalog", "release", "--data", str(data), "--by", "oncall"])
    assert "not fixed yet, 67 orders stay held" in out.stdout
    assert len(held_orders(engine)) == 67

    # the SKUs are restored: the finding resolves (same id) and release frees the orders
    CatalogStore(engine).save(run(snap, rates, restored(busy_day())).findings, 2)
    assert CatalogStore(engine).finding(fid)["state"] == "resolved"
    dry_rel = invoke("release", "--data", str(data), "--dry-run").stdout
    assert f"{fid}: would release 67 orders" in dry_rel and len(held_orders(engine)) == 67
    assert f"{fid}: released 67 orders" in invoke("release", "--data", str(data)).stdout
    assert held_orders(engine) == []
    audit = [r["action"] for r in AuditChain(engine).rows()]
    assert audit[-1] == "catalog.release"
    assert json.loads(invoke("respond", "--data", str(data), "--json").stdout)["actions"] == []


def test_an_order_shipped_in_commands_index_is_not_held(data: Path, rates) -> None:
    """The server's index may see a shipment a step before the guard's blast radius
    does: the order counts as shipped all the same."""
    dry = json.loads(invoke("respond", "--data", str(data), "--dry-run", "--json").stdout)
    first, second = dry["actions"][0]["orders"][:2]
    ships = [
        {"type": "shipment", "id": f"e-{o}", "ts": T + 45_000, "order_id": o, "status": s}
        | {"merchant_id": "m-0"}
        for o, s in ((first, "delivered"),)
    ]
    step = Engine(EngineConfig()).process(
        Decoder(rates).decode_ndjson(b"".join(json.dumps(s).encode() + b"\n" for s in ships), 1)
    )
    SqlOrderSource(Store.open(data).engine).feed(step.records)
    again = json.loads(invoke("respond", "--data", str(data), "--dry-run", "--json").stdout)
    held = again["actions"][0]["orders"]
    assert first not in held and second in held
    assert len(held) == len(dry["actions"][0]["orders"]) - 1
