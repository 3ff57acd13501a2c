"""The simulator: deterministic, valid under the contract, every incident labelled."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.sim import SCENARIOS, SimConfig, live_batches, simulate
from warroom.sim.world import MIDNIGHT

CFG = SimConfig(minutes=2, rate=40, seed=3)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(CFG, out)
    return out


def _records(day: Path) -> list[dict]:
    """Records with ts as epoch ms (the simulator writes 1 % as RFC 3339 strings)."""
    out = []
    for line in (day / "events.ndjson").read_text().splitlines():
        rec = json.loads(line)
        if isinstance(rec["ts"], str):
            rec["ts"] = int(datetime.fromisoformat(rec["ts"]).timestamp() * 1000)
        out.append(rec)
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(day: Path, tmp_path: Path) -> None:
    simulate(CFG, tmp_path / "again")
    for name in ("events.ndjson", "catalog.ndjson", "labels.json", "rates.json"):
        assert (tmp_path / "again" / name).read_bytes() == (day / name).read_bytes(), name
    simulate(SimConfig(minutes=2, rate=40, seed=4), tmp_path / "other")
    assert (tmp_path / "other" / "events.ndjson").read_bytes() != (
        day / "events.ndjson"
    ).read_bytes()


def test_every_record_is_valid_under_the_contract(day: Path) -> None:
    rates = RatesTable.load(day / "rates.json")
    batch = Decoder(rates).decode_ndjson((day / "events.ndjson").read_bytes(), 1)
    assert batch.quarantined == []
    types = Counter(batch.frame["kind"].to_list())
    assert len(types) == 6  # all six record types occur
    assert (day / "catalog.ndjson").read_text().count("\n") > 10_000  # tens of thousands of SKUs


def test_every_incident_kind_is_labelled_consistently(day: Path) -> None:
    labels = {label["kind"]: label for label in json.loads((day / "labels.json").read_text())}
    assert set(labels) == set(SCENARIOS)
    recs = _records(day)
    ts = {r["id"]: r["ts"] for r in recs}
    outage = labels["payment_outage"]
    regions = {r["order_id"]: r["region"] for r in recs if r["type"] == "order"}
    failed = [
        r
        for r in recs
        if r["type"] == "payment"
        and r["method"] == "card"
        and regions.get(r["order_id"]) == "US-CA"
        and outage["start"] <= r["ts"] < outage["end"]
    ]
    assert all(r["status"] == "failed" for r in failed)
    scramble = labels["sku_scramble"]
    changed = {
        r["sku_id"] for r in recs if r["type"] == "sku_change" and r["actor"] == "batch:attr-sync"
    }
    assert changed == set(scramble["entities"]["skus"])
    assert all(
        scramble["start"] <= ts.get(r["id"], scramble["start"]) <= scramble["end"]
        for r in recs
        if r["type"] == "sku_change" and r["actor"] == "batch:attr-sync"
    )
    ring = set(labels["refund_abuse"]["entities"]["users"])
    devices = {r["device_id"] for r in recs if r["type"] == "order" and r["user_id"] in ring}
    assert len(devices) <= 3 < len(ring)  # the ring shares a few devices
    gd = [
        r
        for r in recs
        if r["type"] == "order"
        and r["region"] == "CN-GD"
        and labels["regional_outage"]["start"] <= r["ts"] < labels["regional_outage"]["end"]
    ]
    assert gd == []
    ids = Counter(r["id"] for r in recs)
    assert any(n == 2 for n in ids.values())  # duplicate deliveries happened
    price = labels["price_error"]
    assert set(price["entities"]["orders"]) <= {r["order_id"] for r in recs if r["type"] == "order"}


def test_no_scenarios_means_no_labels(tmp_path: Path) -> None:
    simulate(SimConfig(minutes=1, rate=20, scenarios=()), tmp_path)
    assert json.loads((tmp_path / "labels.json").read_text()) == []
    hard = json.loads((tmp_path / "hard_cases.json").read_text())
    assert hard["heavy_returners"]["users"] and hard["shared_addresses"]


def test_midnight_surge(day: Path) -> None:
    orders = [r["ts"] for r in _records(day) if r["type"] == "order"]
    before = sum(1 for t in orders if MIDNIGHT - 3_000 <= t < MIDNIGHT) / 3
    after = sum(1 for t in orders if MIDNIGHT + 500 <= t < MIDNIGHT + 3_500) / 3
    assert after >= 10 * max(before, 1)


def test_live_batches_keep_order_and_pace(tmp_path: Path) -> None:
    lines = [
        json.dumps({"type": "visit", "id": f"v{i}", "ts": MIDNIGHT + i * 1000}).encode()
        for i in range(4)
    ]
    path = tmp_path / "paced.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    # a second of event time is 50 ms at speed 20: each line is due in its own batch
    batches = list(live_batches(path, speed=20.0, batch_ms=10))
    assert [line for batch in batches for line in batch] == lines
    assert len(batches) == 4
