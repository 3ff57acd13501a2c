"""The native engine core against the numpy/polars reference engine: the same cells in
every period, counters, late records and hand-on records, whatever the batches; and
either engine resumes the other's state."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RATES_DOC
from eventgen import stream
from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable
from warroom.engine import native
from warroom.engine.config import EngineConfig
from warroom.engine.engine import Engine
from warroom.engine.native import NativeEngine
from warroom.engine.rollup import Part
from warroom.engine.runs import Run
from warroom.runner import load_catalog_categories
from warroom.sim import SimConfig, simulate

needs_core = pytest.mark.skipif(not native.available(), reason="native engine core not built")
KEYS = ["win", "gset", "k1", "k2"]


def test_the_core_is_built_where_a_compiler_is() -> None:
    """setup.py builds it as optional: a broken build must fail here, not go unseen."""
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    assert native._engine_core is not None


class Store:
    """What a checkpoint persists of an engine (runner.py / store/db.py, in memory)."""

    def __init__(self) -> None:
        self.blob = b""
        self.runs: dict[int, Run] = {}
        self.parts: dict[int, Part] = {}

    def checkpoint(self, engine: Engine) -> None:
        self.blob = engine.state_blob()
        for run in (r for idx in (engine.seen, engine.orders) for r in idx.runs):
            if not run.persisted:
                self.runs[run.run_id] = Run.from_bytes(run.run_id, run.to_bytes())
                run.persisted = True
        for run_id in (*engine.seen.dropped, *engine.orders.dropped):
            self.runs.pop(run_id)
        engine.seen.dropped, engine.orders.dropped = [], []
        for rollup in engine.rollups.values():
            for part in rollup.parts:
                if not part.persisted:
                    self.parts[part.part_id] = Part.from_bytes(part.part_id, part.to_bytes())
                    part.persisted = True
            for part_id in rollup.dropped:
                self.parts.pop(part_id)
            rollup.dropped = []

    def restore(self, engine: Engine) -> Engine:
        engine.restore(self.blob, dict(self.runs), dict(self.parts))
        return engine


class Replay:
    """An engine's outputs over batches: cells per period (labelled), late and handed-on
    records."""

    def __init__(self) -> None:
        self.cells: dict[int, list[pl.DataFrame]] = {}
        self.late: list[pl.DataFrame] = []
        self.records: list[pl.DataFrame] = []

    def step(self, engine: Engine, batch: object) -> None:
        result = engine.process(batch)  # type: ignore[arg-type]
        self._keep(engine, result)
        assert result.late is not None and result.records is not None
        self.late.append(result.late)
        self.records.append(result.records.select("seq", "pos", "id"))

    def end(self, engine: Engine) -> dict[int, pl.DataFrame]:
        self._keep(engine, engine.flush())
        return {p: pl.concat(c).sort(KEYS) for p, c in self.cells.items()}

    def _keep(self, engine: Engine, result: object) -> None:
        for period, cells in result.cells.items():  # type: ignore[attr-defined]
            self.cells.setdefault(period, []).append(engine.label(cells))


def replay(
    make: type[Engine],
    batches: list[bytes],
    rates: RatesTable,
    config: EngineConfig,
    catalog: dict[str, str] | None = None,
    resume_with: type[Engine] | None = None,
    every: int = 0,
) -> tuple[dict[int, pl.DataFrame], Replay, Engine]:
    """Batches through `make`; with `resume_with`, checkpoint every `every` batches and go
    on in a new engine of that class restored from the checkpoint."""
    decoder, engine, out, store = Decoder(rates), make(config), Replay(), Store()
    if catalog:
        engine.set_catalog(catalog)
    line = 1
    for i, data in enumerate(batches):
        out.step(engine, decoder.decode_ndjson(data, line))
        line += data.count(b"\n")
        if resume_with is not None and every and (i + 1) % every == 0:
            store.checkpoint(engine)
            engine = store.restore(resume_with(config))
    return out.end(engine), out, engine


def assert_same(a: tuple, b: tuple) -> None:
    cells_a, out_a, engine_a = a
    cells_b, out_b, engine_b = b
    assert set(cells_a) == set(cells_b)
    for period in cells_a:
        assert cells_a[period].equals(cells_b[period]), period
    assert engine_a.counters == engine_b.counters
    assert pl.concat(out_a.late).equals(pl.concat(out_b.late))
    assert pl.concat(out_a.records).equals(pl.concat(out_b.records))


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """NDJSON cut into batches of about these many bytes (whole lines), cycling."""
    out, at = [], 0
    for size in itertools.cycle(sizes):
        if at >= len(data):
            return out
        end = data.find(b"\n", min(at + size, len(data) - 1)) + 1 or len(data)
        out.append(data[at:end])
        at = end
    return out


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("day")
    simulate(SimConfig(minutes=2, rate=40, seed=23), path)
    return path


@needs_core
@pytest.mark.parametrize("sizes", [[400_000], [7_000, 90_000, 1_500], [50_000_000]])
def test_a_simulated_day_gives_the_reference_cells(day: Path, sizes: list[int]) -> None:
    rates = RatesTable.load(day / "rates.json")
    catalog = load_catalog_categories(day / "catalog.ndjson")
    config = EngineConfig(lateness_ms=3_000)
    batches = cut((day / "events.ndjson").read_bytes(), sizes)
    reference = replay(
        Engine, cut((day / "events.ndjson").read_bytes(), [200_000]), rates, config, catalog
    )
    got = replay(NativeEngine, batches, rates, config, catalog)
    assert_same(got, reference)
    c = got[2].counters
    # the day holds duplicates and late records, and every kind of record
    assert c.duplicates > 0 and c.late > 0
    assert got[0][1000]["sku_changes"].sum() > 0 and got[0][1000]["refunds"].sum() > 0


@needs_core
@pytest.mark.parametrize(("first", "then"), [(NativeEngine, Engine), (Engine, NativeEngine)])
def test_either_engine_resumes_the_others_state(day: Path, first: type, then: type) -> None:
    rates = RatesTable.load(day / "rates.json")
    catalog = load_catalog_categories(day / "catalog.ndjson")
    config = EngineConfig(lateness_ms=3_000)
    batches = cut((day / "events.ndjson").read_bytes(), [150_000])
    whole = replay(NativeEngine, batches, rates, config, catalog)
    resumed = replay(first, batches, rates, config, catalog, resume_with=then, every=3)
    assert_same(resumed, whole)


@needs_core
def test_compacted_index_logs_resume_the_same(day: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log compacted at every checkpoint (one run of every live entry) restores the
    indexes as the log of changes does."""
    rates = RatesTable.load(day / "rates.json")
    config = EngineConfig(lateness_ms=3_000, dedup_horizon_ms=20_000)
    batches = cut((day / "events.ndjson").read_bytes(), [100_000])
    whole = replay(NativeEngine, batches, rates, config)
    monkeypatch.setattr(native, "_COMPACT_SLACK", 0)
    monkeypatch.setattr(native, "_COMPACT_AT", 0)
    resumed = replay(NativeEngine, batches, rates, config, resume_with=NativeEngine, every=2)
    assert_same(resumed, whole)
    engine = resumed[2]
    engine.state_blob()
    assert len(engine.seen.runs) == 1  # one run of the live entries, not a growing log
    # ids older than the horizon were evicted from memory, and from the compacted log
    fresh = engine.counters.accepted + engine.counters.late
    assert len(engine.seen) < fresh // 2
    assert engine.seen.runs[0].size == len(engine.seen)


@st.composite
def shuffled_streams(draw: st.DrawFn) -> tuple[list[bytes], list[int], EngineConfig]:
    rng = random.Random(draw(st.integers(0, 100_000)))
    events = stream(rng, draw(st.integers(1, 80)), span_ms=draw(st.sampled_from([5_000, 60_000])))
    lines = [e.line() for e in events]
    for _ in range(draw(st.integers(0, 20))):  # repeats, near or far from the first
        at = rng.randrange(len(lines))
        lines.insert(min(len(lines), at + rng.randrange(1, 40)), lines[at])
    for _ in range(draw(st.integers(0, 20))):  # records moved earlier or later
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(lines) - 1)), max_size=6)))
    config = EngineConfig(
        lateness_ms=draw(st.sampled_from([0, 1_000, 4_000])),
        dedup_horizon_ms=draw(st.sampled_from([0, 2_000, 600_000])),
        order_horizon_ms=draw(st.sampled_from([1_000, 10_000, 48 * 3_600_000])),
    )
    return lines, cuts, config


@needs_core
@settings(max_examples=60, deadline=None)
@given(case=shuffled_streams())
def test_any_stream_gives_the_reference_cells(case: tuple) -> None:
    lines, cuts, config = case
    bounds = [0, *sorted(set(cuts)), len(lines)]
    batches = [b"\n".join(lines[a:b]) + b"\n" for a, b in itertools.pairwise(bounds) if b > a]
    rates = RatesTable.parse(json.dumps(RATES_DOC))
    # the reference decides per batch; one batch is its sequential answer
    reference = replay(Engine, [b"\n".join(lines) + b"\n"], rates, config)
    assert_same(replay(NativeEngine, batches, rates, config), reference)


_values = st.one_of(
    st.none(),
    st.sampled_from(["unknown", "", "CN-GD", "exactly12byt", "thirteen-byte", "a\x00b"]),
    st.text(max_size=20),
)


@needs_core
@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.lists(_values, max_size=40), min_size=1, max_size=4),
    cut=st.integers(0, 5),
)
def test_native_dictionary_codes_as_the_enum_cast(batches: list[list], cut: int) -> None:
    """Nulls, 'unknown', inline (<= 12 bytes) and longer values, sliced columns, values
    that are prefixes of others: the same codes and the same values in the same order."""
    reference, coded = native.Dictionary(), native.NativeDictionary()
    for values in batches:
        column = pl.Series(["pad"] * cut + values, dtype=pl.String).slice(cut)
        assert coded.encode(column).tolist() == reference.encode(column).tolist()
        assert coded.values == reference.values
    # a restored dictionary goes on with the same codes
    again = native.NativeDictionary(list(reference.values))
    column = pl.Series([v for b in batches for v in b], dtype=pl.String)
    assert again.encode(column).tolist() == reference.encode(column).tolist()


@needs_core
def test_a_frozen_dictionary_gives_unknown_values_code_zero() -> None:
    frozen = native._engine_core.StrDict(["", "succeeded", "failed"], frozen=True)
    column = pl.Series(["failed", None, "retried", "succeeded", "a-status-longer-than-12"])
    assert frozen.encode(*native._string_view(column))[0].tolist() == [2, 0, 0, 1, 0]
    assert len(frozen) == 3
    with pytest.raises(ValueError, match="a value given twice: failed"):
        native._engine_core.StrDict(["", "failed", "failed"], frozen=True)


@needs_core
def test_string_views_that_do_not_fit_their_buffers_are_refused() -> None:
    coder = native._engine_core.StrDict(["unknown"])
    views, validity, data, offset, length = native._string_view(pl.Series(["a", None, "b"]))
    with pytest.raises(ValueError, match="views buffer shorter"):
        coder.encode(views, validity, data, offset, length + 1)
    with pytest.raises(ValueError, match="validity bitmap shorter"):
        coder.encode(views, b"", data, offset, length)
    # a new value, then a long one whose data buffer is missing: the new value is undone
    column = pl.Series(["new", "a value longer than twelve bytes"])
    views, validity, _, offset, length = native._string_view(column)
    with pytest.raises(ValueError, match="outside its data buffers"):
        coder.encode(views, validity, [], offset, length)
    assert len(coder) == 1
    codes, added = coder.encode(*native._string_view(pl.Series(["other", "new"])))
    assert codes.tolist() == [1, 2] and added == ["other", "new"]


@needs_core
def test_a_drained_log_keeps_each_ids_latest_fresh_record() -> None:
    """The dedup index logs an id again each time it is fresh again (past the horizon):
    the drained run holds each id once, in key order, with its latest time."""
    rng = random.Random(4)
    ids, ts = [], []
    for i in range(20_000):  # a small pool, never the same id twice in a row
        pick = rng.randrange(300)
        while ids and pick == ids[-1]:
            pick = rng.randrange(300)
        ids.append(pick)
        ts.append(1_794_326_400_000 + 1_000 * i)
    lines = [
        json.dumps(
            {
                "type": "visit",
                "id": f"v-{d}",
                "ts": t,
                "user_id": "u-1",
                "region": "CN-ZJ",
                "country": "CN",
                "channel": "app",
                "page": "item",
                "item_id": "i-1",
            }
        )
        for d, t in zip(ids, ts, strict=True)
    ]
    batch = Decoder(RatesTable.load(None)).decode_ndjson("\n".join(lines).encode() + b"\n", 1)
    engine = NativeEngine(EngineConfig(lateness_ms=0, dedup_horizon_ms=0))
    engine.process(batch)
    assert engine.counters.duplicates == 0
    keys, vals = engine.core.seen.drain()
    latest = dict(zip(batch.frame["id_hash"].to_list(), ts, strict=True))  # the last one wins
    assert keys.tolist() == sorted(latest)
    assert vals[:, 0].tolist() == [latest[k] for k in sorted(latest)]
    assert engine.core.seen.logged == 0


@pytest.mark.parametrize("engine_type", [Engine, NativeEngine] if native.available() else [Engine])
def test_the_catalog_comes_back_from_the_state_pickled_once(engine_type: type[Engine]) -> None:
    catalog = {"SKU-1": "phones", "SKU-2": "shoes"}
    engine = engine_type()
    engine.set_catalog(catalog)
    first = engine.state_blob()
    assert engine._pickled_catalog() is engine._pickled_catalog()  # kept, not made again
    back = engine_type()
    back.restore(first, {}, {})
    assert back.sku_category == catalog
    back.set_catalog({"SKU-3": "toys"})  # a new catalog: a new pickle
    again = engine_type()
    again.restore(back.state_blob(), {}, {})
    assert again.sku_category == {"SKU-3": "toys"}


def test_a_state_holding_the_catalog_as_a_dict_still_restores() -> None:
    """States written before session 13 hold the dict itself."""
    import pickle

    engine = Engine()
    engine.set_catalog({"SKU-1": "phones"})
    state = pickle.loads(engine.state_blob())
    state["sku_category"] = {"SKU-1": "phones"}
    back = Engine()
    back.restore(pickle.dumps(state), {}, {})
    assert back.sku_category == {"SKU-1": "phones"}
