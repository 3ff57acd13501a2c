"""The catalog guard's checks on hand-made catalogs: what is a scramble, what is a
harmless rename, what is a price error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warroom.contract.rates import RatesTable
from warroom.guards.catalog.detect import PriceRule, item_verdict, price_verdict
from warroom.guards.catalog.snapshot import CatalogError, CatalogState, Snapshot

GRID = [("red", "M"), ("red", "L"), ("blue", "M"), ("blue", "L")]


def snapshot(tmp_path: Path, rates: RatesTable, extra: list[dict] | None = None) -> Snapshot:
    lines = [
        {
            "merchant_id": "m-1",
            "item_id": "i-1",
            "sku_id": f"s-{k}",
            "category": "apparel",
            "attrs": {"color": c, "size": s},
            "price": 100.5,
            "currency": "CNY",
        }
        for k, (c, s) in enumerate(GRID)
    ] + (extra or [])
    path = tmp_path / "catalog.ndjson"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return Snapshot.load(path, rates)


def change(sku: str, after: dict, before: dict | None = None, actor: str = "merchant:m-1") -> dict:
    return {
        "sku_id": sku,
        "item_id": "i-1",
        "merchant_id": "m-1",
        "actor": actor,
        "after": after,
        "before": before or {},
    }


def attrs(c: str, s: str) -> dict:
    return {"attrs": {"color": c, "size": s}}


def test_snapshot_keeps_exact_minor_units_and_category_norm(tmp_path, rates) -> None:
    snap = snapshot(
        tmp_path,
        rates,
        [
            {
                "merchant_id": "m-2",
                "item_id": "i-2",
                "sku_id": "s-9",
                "category": "apparel",
                "attrs": {},
                "price": 1999,
                "currency": "JPY",
            }
        ],
    )
    assert snap.skus["s-0"].price == 10050
    assert snap.skus["s-9"].price == 1999  # JPY has no minor digits
    assert snap.items["i-1"] == ["s-0", "s-1", "s-2", "s-3"]
    assert snap.category_norm["apparel"] == pytest.approx(100.5)


def test_unreadable_snapshot_line_names_its_line(tmp_path, rates) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"sku_id": "s-1"}\n')
    with pytest.raises(CatalogError, match=r"bad\.ndjson:1"):
        Snapshot.load(path, rates)


def test_permutation_within_the_item_is_a_scramble(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    for k, (c, s) in enumerate(GRID):  # rotate: every SKU takes its neighbour's variant
        c2, s2 = GRID[k - 1]
        state.apply(change(f"s-{k}", attrs(c2, s2), attrs(c, s)))
    verdict = item_verdict(state, "i-1")
    assert sorted(verdict) == ["s-0", "s-1", "s-2", "s-3"]
    assert all("remap" in r for r in verdict.values())


def test_half_done_permutation_shows_a_collision(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    state.apply(change("s-0", attrs("blue", "M"), attrs("red", "M")))
    assert item_verdict(state, "i-1") == {"s-0": ["collision", "remap"]}


def test_consistent_size_rename_is_harmless(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    for k, (c, s) in enumerate(GRID):
        if s == "L":
            state.apply(change(f"s-{k}", attrs(c, "Large"), attrs(c, s), "batch:label-rename"))
    assert item_verdict(state, "i-1") == {}


def test_partial_rename_and_merged_names_are_stray(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    state.apply(change("s-1", attrs("red", "Large"), attrs("red", "L")))  # s-3 keeps "L"
    assert item_verdict(state, "i-1") == {"s-1": ["stray"]}
    state = CatalogState(snapshot(tmp_path, rates))
    for k, (c, s) in enumerate(GRID):  # M and L both become "One size"
        state.apply(change(f"s-{k}", attrs(c, "One"), attrs(c, s)))
    verdict = item_verdict(state, "i-1")
    assert sorted(verdict) == ["s-0", "s-1", "s-2", "s-3"]
    assert all("stray" in r for r in verdict.values())


def test_restoring_the_snapshot_clears_the_item(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    state.apply(change("s-0", attrs("blue", "M"), attrs("red", "M")))
    state.apply(change("s-0", attrs("red", "M"), attrs("blue", "M")))
    assert item_verdict(state, "i-1") == {}


def test_price_change_repeating_stale_attributes_does_not_touch_them(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    state.apply(change("s-1", attrs("red", "Large"), attrs("red", "L")))
    stale = {**attrs("red", "L"), "price": 101.0, "currency": "CNY"}
    assert state.apply(change("s-1", stale, stale | {"price": 100.5})) == (False, True)
    assert state.current_attrs("s-1") == {"color": "red", "size": "Large"}


@pytest.mark.parametrize(
    ("after", "reasons"),
    [
        ({"price": 1.0, "currency": "CNY"}, ["below_snapshot"]),  # 1 % of 100.50
        ({"price": 96.0, "currency": "CNY"}, []),  # a routine sync
        ({"price": 120.0, "currency": "CNY"}, []),
        ({"price": 100.0, "currency": "JPY"}, ["currency_switch", "below_snapshot"]),
        ({"price": 14.0, "currency": "USD"}, ["currency_switch"]),  # about the same value
    ],
)
def test_price_verdict(tmp_path, rates, after: dict, reasons: list[str]) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    state.apply(change("s-0", {**attrs("red", "M"), **after}, attrs("red", "M")))
    assert price_verdict(state, "s-0", PriceRule()) == reasons


def test_new_sku_is_judged_against_its_category(tmp_path, rates) -> None:
    state = CatalogState(snapshot(tmp_path, rates))
    cheap = {**attrs("green", "M"), "price": 5.0, "currency": "CNY"}
    state.apply({"sku_id": "s-new", "item_id": "i-1", "merchant_id": "m-1", "after": cheap})
    assert price_verdict(state, "s-new", PriceRule()) == ["below_category_norm"]
    assert state.info("s-new").category == "apparel"
    assert item_verdict(state, "i-1") == {}  # a new variant is not a scramble
