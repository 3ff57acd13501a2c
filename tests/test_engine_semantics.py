"""Event-time rules on small, hand-made streams."""

from __future__ import annotations

import polars as pl
import pytest

from conftest import run_engine
from eventgen import order, payment
from warroom.contract.rates import RatesTable
from warroom.engine.config import EngineConfig

T0 = 1_794_326_400_000

pytestmark = pytest.mark.usefixtures("both_engines")


def cell(cells: pl.DataFrame, win: int, gset: int, k1: str, col: str) -> int:
    hit = cells.filter((pl.col("win") == win) & (pl.col("gset") == gset) & (pl.col("k1") == k1))
    return int(hit[col].sum())


def test_late_record_within_lateness_corrects_its_window(rates: RatesTable) -> None:
    lines = [order(1, T0), order(2, T0 + 3_000), order(3, T0 + 500)]  # 2.5 s late, lateness 5 s
    engine, cells = run_engine(lines, rates, config=EngineConfig(lateness_ms=5_000))
    assert cell(cells, T0, 0, "", "order_lines") == 2
    assert engine.counters.late == 0


def test_record_past_lateness_is_counted_in_the_open_not_aggregated(rates: RatesTable) -> None:
    lines = [order(1, T0), order(2, T0 + 10_000), order(3, T0 + 500)]  # 9.5 s late
    engine, cells = run_engine(lines, rates, config=EngineConfig(lateness_ms=2_000))
    assert cell(cells, T0, 0, "", "order_lines") == 1
    assert engine.counters.late == 1
    assert engine.counters.accepted == 2


def test_payment_before_its_order_is_attributed_when_the_order_comes_in_time(
    rates: RatesTable,
) -> None:
    lines = [payment(1, T0 + 100), order(1, T0, region="US-CA")]
    _, cells = run_engine(lines, rates, config=EngineConfig(lateness_ms=2_000))
    assert cell(cells, T0, 1, "US-CA", "pay_successes") == 1


def test_payment_whose_order_never_comes_counts_as_unknown(rates: RatesTable) -> None:
    lines = [payment(1, T0 + 100), order(2, T0 + 9_000), order(1, T0 + 9_500, region="US-CA")]
    _, cells = run_engine(lines, rates, config=EngineConfig(lateness_ms=2_000))
    assert cell(cells, T0, 1, "unknown", "pay_successes") == 1
    assert cell(cells, T0, 1, "US-CA", "pay_successes") == 0


def test_order_arriving_after_its_payments_window_closed_does_not_rewrite_it(
    rates: RatesTable,
) -> None:
    # the window of the payment closes at the record at T0+3000; the order comes after
    lines = [payment(1, T0 + 100), order(2, T0 + 3_500), order(1, T0 + 3_600)]
    for cuts in ([], [1], [2], [1, 2]):
        _, cells = run_engine(lines, rates, cuts, EngineConfig(lateness_ms=2_000))
        assert cell(cells, T0, 1, "unknown", "pay_successes") == 1, cuts


def test_duplicate_beyond_the_horizon_is_not_recognised(rates: RatesTable) -> None:
    # the horizon is measured back from the watermark: 60 s - 1 s lateness - 10 s > 0
    config = EngineConfig(lateness_ms=1_000, dedup_horizon_ms=10_000)
    lines = [order(1, T0), order(2, T0 + 60_000), order(1, T0)]
    engine, _ = run_engine(lines, rates, config=config)
    assert (engine.counters.duplicates, engine.counters.late) == (0, 1)  # reported as late
    lines = [order(1, T0), order(2, T0 + 5_000), order(1, T0)]
    engine, _ = run_engine(lines, rates, config=config)
    assert engine.counters.duplicates == 1


def test_distinct_orders_and_buyers_per_window(rates: RatesTable) -> None:
    lines = [order(1, T0), order(1, T0).replace(b'"o-1"', b'"o-1b"'), order(2, T0 + 10)]
    _, cells = run_engine(lines, rates)
    assert cell(cells, T0, 0, "", "order_lines") == 3
    assert cell(cells, T0, 0, "", "orders") == 2
    assert cell(cells, T0, 0, "", "buyers") == 1


def test_each_step_hands_on_its_records_without_duplicates_but_with_late_ones(
    rates: RatesTable,
) -> None:
    from warroom.contract.decode import Decoder
    from warroom.engine.native import new_engine

    engine, decoder = new_engine(EngineConfig(lateness_ms=1_000)), Decoder(rates)
    lines = [order(1, T0), order(2, T0 + 5_000), order(1, T0 + 5_001), order(3, T0)]
    step = engine.process(decoder.decode_ndjson(b"\n".join(lines), 1))
    assert step.records is not None
    # line 3 repeats o-1's id: gone; line 4 is past the lateness: counted late, still handed on
    assert step.records["pos"].to_list() == [1, 2, 4]
    assert step.records["order_id"].to_list() == ["o1", "o2", "o3"]
    assert step.late is not None and step.late["pos"].to_list() == [4]


def test_attribution_holds_across_batches_whose_lines_restart_at_one(rates: RatesTable) -> None:
    """HTTP ingest decodes every batch from line 1. An order late in one batch, and its
    payment in the next whose early line closes the payment's window, must still be
    attributed: arrival order is the engine's sequence number, not the line."""
    from warroom.contract.decode import Decoder
    from warroom.engine.engine import SECOND
    from warroom.engine.native import new_engine

    decoder, engine = Decoder(rates), new_engine(EngineConfig(lateness_ms=1_000))
    first = [order(i, T0 + i) for i in range(1, 200)]  # order o199 is line 199
    second = [payment(199, T0 + 300), order(500, T0 + 5_000)]  # line 2 closes T0's window
    cells = []
    for lines in (first, second):
        step = engine.process(decoder.decode_ndjson(b"\n".join(lines), 1))
        cells.extend(c for period, c in step.cells.items() if period == SECOND)
    cells.extend(c for period, c in engine.flush().cells.items() if period == SECOND)
    labelled = engine.label(pl.concat(cells))
    assert cell(labelled, T0, 1, "CN-ZJ", "pay_attempts") == 1  # gset 1: region
    assert cell(labelled, T0, 1, "unknown", "pay_attempts") == 0
