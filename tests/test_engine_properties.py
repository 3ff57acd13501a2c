"""Property tests against a brute-force decimal reference: any split into batches, any
shuffle within the lateness and any duplication give the same aggregates."""

from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_engine
from eventgen import reference, reference_local, stream
from warroom.contract.rates import RatesTable
from warroom.engine.config import EngineConfig
from warroom.engine.cube import GSET_ID, LOCAL_COLS

LATENESS = 2_000
METRICS = ("gmv", "order_lines", "pay_successes", "pay_amount", "refund_amount", "visits")

pytestmark = pytest.mark.usefixtures("both_engines")


def engine_totals(cells: pl.DataFrame) -> dict[tuple[int, str], dict[str, int]]:
    part = cells.filter(pl.col("gset").is_in([0, 1]))  # market and region
    return {
        (r["win"], r["k1"]): {m: r[m] for m in METRICS}
        for r in part.iter_rows(named=True)
        if any(r[m] for m in METRICS)
    }


def engine_local(cells: pl.DataFrame) -> dict[tuple[int, str], dict[str, int]]:
    part = cells.filter(pl.col("gset") == GSET_ID[("currency",)])
    return {
        (r["win"], r["k1"]): {m: r[m] for m in LOCAL_COLS}
        for r in part.iter_rows(named=True)
        if any(r[m] for m in LOCAL_COLS)
    }


def assert_reference(cells: pl.DataFrame, events: list) -> None:
    assert engine_totals(cells) == nonzero(reference(events))
    assert engine_local(cells) == reference_local(events)


def nonzero(ref: dict) -> dict:
    return {k: v for k, v in ref.items() if any(v.values())}


def _rates() -> RatesTable:
    import json

    from conftest import RATES_DOC

    return RatesTable.parse(json.dumps(RATES_DOC))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_any_split_into_batches_gives_the_reference(seed: int, n: int, cuts: list[int]) -> None:
    events = stream(random.Random(seed), n)
    lines = [e.line() for e in events]
    _, cells = run_engine(lines, _rates(), cuts, EngineConfig(lateness_ms=LATENESS))
    assert_reference(cells, events)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    cuts=st.lists(st.integers(0, 400), max_size=4),
)
def test_any_shuffle_within_the_lateness_gives_the_reference(
    seed: int, n: int, cuts: list[int]
) -> None:
    rng = random.Random(seed)
    events = stream(rng, n)
    # each record is delivered up to half the lateness after its event time
    arrival = sorted(events, key=lambda e: e.ts + rng.randrange(LATENESS // 2))
    _, cells = run_engine(
        [e.line() for e in arrival], _rates(), cuts, EngineConfig(lateness_ms=LATENESS)
    )
    assert_reference(cells, events)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    cuts=st.lists(st.integers(0, 400), max_size=4),
)
def test_any_duplication_gives_the_reference(seed: int, n: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    events = stream(rng, n)
    # some records are delivered twice; every delivery lands within half the lateness
    deliveries = [(e.ts + rng.randrange(LATENESS // 2), e) for e in events]
    deliveries += [(e.ts + rng.randrange(LATENESS // 2), e) for e in events if rng.random() < 0.3]
    delivered = [e for _, e in sorted(deliveries, key=lambda d: d[0])]
    engine, cells = run_engine(
        [e.line() for e in delivered], _rates(), cuts, EngineConfig(lateness_ms=LATENESS)
    )
    assert_reference(cells, events)
    assert engine.counters.duplicates == len(delivered) - len(events)
