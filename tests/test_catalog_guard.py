"""The catalog guard fed by the engine, step by step: grouping, timing, blast radius,
resolution, persistence and the response built from what was persisted."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from warroom.alerts.model import Alert
from warroom.contract.decode import Decoder
from warroom.engine.config import EngineConfig
from warroom.engine.engine import Engine
from warroom.guards.catalog import respond
from warroom.guards.catalog.guard import CatalogGuard
from warroom.guards.catalog.snapshot import Snapshot
from warroom.guards.catalog.store import CatalogStore

T = 1_794_326_400_000
COLOURS, SIZES = ["red", "blue"], ["M", "L"]


@pytest.fixture
def snap(tmp_path: Path, rates) -> Snapshot:
    """Twelve merchants, one item each, four SKUs (colour x size) of 100.00 CNY."""
    lines = []
    for m in range(12):
        for k, (c, s) in enumerate(itertools.product(COLOURS, SIZES)):
            lines.append(
                {
                    "merchant_id": f"m-{m}",
                    "item_id": f"i-{m}",
                    "sku_id": f"s-{m}-{k}",
                    "category": "apparel",
                    "attrs": {"color": c, "size": s},
                    "price": 100,
                    "currency": "CNY",
                }
            )
    path = tmp_path / "catalog.ndjson"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return Snapshot.load(path, rates)


class Stream:
    """Contract NDJSON lines, built in event-time order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, kind: str, ts: int, **fields) -> None:
        rec = {"type": kind, "id": f"e-{len(self.lines)}", "ts": ts, **fields}
        self.lines.append(json.dumps(rec))

    def order(self, ts: int, order: str, sku: str, price: float = 100, attrs=None) -> None:
        m, _ = sku[2:].split("-")
        self.add(
            "order",
            ts,
            order_id=order,
            user_id="u-1",
            merchant_id=f"m-{m}",
            item_id=f"i-{m}",
            sku_id=sku,
            category="apparel",
            region="CN-ZJ",
            country="CN",
            channel="app",
            quantity=1,
            unit_price=price,
            currency="CNY",
            **({"sku_attrs": attrs} if attrs else {}),
        )

    def change(self, ts: int, sku: str, before: dict, after: dict, actor: str) -> None:
        m, _ = sku[2:].split("-")
        self.add(
            "sku_change",
            ts,
            merchant_id=f"m-{m}",
            item_id=f"i-{m}",
            sku_id=sku,
            actor=actor,
            before=before,
            after=after,
        )

    def scramble(self, ts: int, merchants: range, actor: str = "batch:attr-sync") -> None:
        grid = list(itertools.product(COLOURS, SIZES))
        for m in merchants:
            for k, (c, s) in enumerate(grid):
                c2, s2 = grid[k - 1]
                self.change(
                    ts + m,
                    f"s-{m}-{k}",
                    {"attrs": {"color": c, "size": s}},
                    {"attrs": {"color": c2, "size": s2}},
                    actor,
                )


def run(snap: Snapshot, rates, stream: Stream, cuts=(), on_alert=None) -> CatalogGuard:
    decoder, engine = Decoder(rates), Engine(EngineConfig(lateness_ms=2_000))
    guard = CatalogGuard(snap, on_alert=on_alert)
    lines = [s.encode() for s in stream.lines]
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(lines)), len(lines)]
    for a, b in itertools.pairwise(bounds):
        step = engine.process(decoder.decode_ndjson(b"\n".join(lines[a:b]) + b"\n", a + 1))
        guard.step(step.records, step.sku_changes)
    guard.finish()
    return guard


def busy_day() -> Stream:
    """Orders every 500 ms; a scramble of 12 merchants at +10 s; shipments, refunds."""
    s = Stream()
    new = {"color": "blue", "size": "L"}  # what s-0-0 shows after the scramble
    for k in range(80):
        ts = T + k * 500
        s.order(ts, f"o-{k}", "s-0-0", attrs=new if ts > T + 5_100 else None)
        if k == 10:
            s.scramble(ts + 100, range(12))
        if k in (30, 31):
            s.add("shipment", ts + 50, order_id=f"o-{k - 5}", merchant_id="m-0", status="shipped")
        if k == 40:
            s.add(
                "refund",
                ts + 60,
                refund_id="r-1",
                order_id="o-24",
                user_id="u-1",
                merchant_id="m-0",
                amount=100,
                currency="CNY",
                reason="wrong_color",
            )
    return s


def test_a_scramble_across_merchants_is_one_alert_within_seconds(snap, rates) -> None:
    alerts: list[Alert] = []
    guard = run(snap, rates, busy_day(), on_alert=alerts.append)
    assert [a.state for a in alerts] == ["firing"]
    alert = alerts[0]
    assert alert.source == "catalog" and alert.severity == "critical"
    assert alert.entities["skus"] == sorted(f"s-{m}-{k}" for m in range(12) for k in range(4))
    assert len(alert.entities["merchants"]) == 12
    change_ts = T + 5_000 + 100
    assert 0 < alert.ts - change_ts <= 10_000
    (finding,) = guard.findings
    assert finding.mass is False  # 48 SKUs: under the mass threshold of 50
    # blast radius: orders on s-0-0 from the change on, not before
    assert finding.orders() == sorted(f"o-{k}" for k in range(11, 80))
    shipped, waiting = finding.split()
    assert shipped == ["o-25", "o-26"]
    assert len(waiting) == 67
    assert finding.gmv_at_risk() == 69 * 10_000
    assert finding.gmv_at_risk(shipped=False) == 67 * 10_000
    assert finding.corroboration()["wrong_variant_refunds"] == 1
    assert finding.corroboration()["orders_showing_new_attrs"] == 69


def test_output_does_not_depend_on_batch_cuts(snap, rates) -> None:
    stream = busy_day()
    whole = run(snap, rates, stream)
    for cuts in ([5, 11, 12, 13, 40, 90], list(range(1, len(stream.lines), 7))):
        cut = run(snap, rates, stream, cuts)
        assert [(f.id, f.fired, sorted(f.skus), f.orders(), f.split()) for f in cut.findings] == [
            (f.id, f.fired, sorted(f.skus), f.orders(), f.split()) for f in whole.findings
        ]


def test_restoring_every_sku_resolves_the_alert(snap, rates) -> None:
    s = Stream()
    s.order(T, "o-1", "s-1-1")
    shown = {"attrs": {"color": "red", "size": "M"}}
    good, bad = {**shown, "price": 100, "currency": "CNY"}, {**shown, "price": 1, "currency": "CNY"}
    for k in range(3):
        s.change(T + 1_000, f"s-1-{k}", good, bad, "merchant:m-1")
    s.order(T + 1_500, "o-2", "s-1-1", price=1)
    for k in range(3):
        s.change(T + 30_000 + k, f"s-1-{k}", bad, good, "merchant:m-1")
    s.order(T + 40_000, "o-3", "s-1-1")
    alerts: list[Alert] = []
    guard = run(snap, rates, s, on_alert=alerts.append)
    assert [a.state for a in alerts] == ["firing", "resolved"]
    assert alerts[0].ts == T + 1_000 + 2_000  # group wait after the change
    assert alerts[1].ts == T + 30_002  # the last SKU restored
    assert alerts[1].entities["orders"] == ["o-2"]
    assert guard.findings[0].skus["s-1-0"].restore["price"] == "100.00"
    assert guard.findings[0].corroboration()["order_lines_before"] == 1  # o-1
    assert "1 order lines since the change vs 1 in the 10 s before" in alerts[1].summary


def test_routine_price_sync_and_rename_raise_nothing(snap, rates) -> None:
    s = Stream()
    for m in range(12):
        s.change(
            T + m * 10,
            f"s-{m}-0",
            {"price": 100, "currency": "CNY"},
            {"price": 97.5, "currency": "CNY"},
            "batch:price-sync",
        )
        for k, (c, size) in enumerate(itertools.product(COLOURS, SIZES)):
            if size == "L":
                s.change(
                    T + 5_000 + m * 10 + k,
                    f"s-{m}-{k}",
                    {"attrs": {"color": c, "size": "L"}},
                    {"attrs": {"color": c, "size": "Large"}},
                    "batch:label-rename",
                )
    s.order(T + 60_000, "o-1", "s-0-0")
    assert run(snap, rates, s).findings == []


def test_findings_persist_and_drive_the_response(snap, rates, tmp_path) -> None:
    guard = run(snap, rates, busy_day())
    store = CatalogStore(sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    assert store.save(guard.findings, 2) == 1
    assert store.save(guard.findings, 2) == 0  # nothing changed since
    (row,) = store.findings()
    assert row["alert"]["entities"]["orders"] == guard.findings[0].orders()
    assert row["gmv_at_risk"] == 690_000
    lines = respond.restore_lines(store)
    assert len(lines) == 48
    assert lines[0]["sku_id"] == "s-0-0" and lines[0]["attrs"] == {"color": "red", "size": "M"}
    assert json.loads(respond.restore_text(lines).splitlines()[0])["price"] == 100.0
    doc = respond.plan(store)
    hold, *notify, release = doc["actions"]
    assert hold["action"] == "hold_shipping" and len(hold["orders"]) == 67
    assert "o-25" not in hold["orders"]
    assert [a["merchant"] for a in notify] == [f"m-{m}" for m in range(12)]
    assert len(notify[0]["skus"]) == 4 and len(notify[0]["orders_held"]) == 67
    assert release["action"] == "release_when_fixed"
    text = respond.plan_text(doc)
    assert text.startswith("HOLD shipping of 67 orders (GMV 6700.00)")
    csv_rows = respond.merchant_csv(store, "m-0").splitlines()
    assert csv_rows[0].startswith("finding_id,kind,merchant_id")
    assert len(csv_rows) == 1 + 69
    assert respond.merchant_csv(store, "m-5").count("\n") == 1  # its SKUs, no orders


def test_a_change_with_an_rfc3339_time_counts_from_that_time(snap, rates) -> None:
    s = Stream()
    s.order(T, "o-1", "s-2-0")
    shown = {"attrs": {"color": "red", "size": "M"}}
    s.change(0, "s-2-0", {**shown, "price": 100, "currency": "CNY"},
             {**shown, "price": 100, "currency": "JPY"}, "ops:alice")  # fmt: skip
    s.lines[-1] = s.lines[-1].replace('"ts": 0', '"ts": "2026-11-11T00:00:01.500+08:00"')
    s.order(T + 1_600, "o-2", "s-2-0")
    (finding,) = run(snap, rates, s).findings
    assert finding.skus["s-2-0"].since == T + 1_500
    assert finding.skus["s-2-0"].reasons == ["currency_switch", "below_snapshot"]
    assert finding.fired == T + 1_500 + 2_000
    assert finding.orders() == ["o-2"]


def test_a_new_sku_far_under_its_category_is_a_price_error(snap, rates) -> None:
    s = Stream()
    after = {"attrs": {"color": "pink", "size": "M"}, "price": 2, "currency": "CNY"}
    s.add("sku_change", T, merchant_id="m-3", item_id="i-3", sku_id="s-3-9",
          actor="merchant:m-3", after=after)  # fmt: skip
    s.order(T + 500, "o-1", "s-3-9")
    (finding,) = run(snap, rates, s).findings
    assert finding.kind == "price_error"
    assert finding.skus["s-3-9"].reasons == ["below_category_norm"]
    assert finding.skus["s-3-9"].restore == {"new_sku": True}
    assert finding.orders() == ["o-1"]
