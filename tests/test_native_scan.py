"""The native NDJSON scanner against the Python decoder: for any input, the same frame,
quarantined lines (line, raw bytes, reason), sku changes and record count."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from conftest import CONTRACT
from warroom.contract import native
from warroom.contract.decode import DecodedBatch, Decoder
from warroom.contract.rates import RatesTable
from warroom.sim import SimConfig, simulate

VALID = (CONTRACT / "examples" / "valid.ndjson").read_bytes()
INVALID = (CONTRACT / "examples" / "invalid.ndjson").read_bytes()
BASES = [json.loads(line) for line in VALID.splitlines() if line.strip()]


def _pair(rates: RatesTable) -> tuple[Decoder, Decoder]:
    fast, slow = Decoder(rates), Decoder(rates)
    assert fast._native is not None
    slow._native = None
    return fast, slow


def _same(rates: RatesTable, data: bytes, first_line: int = 1) -> DecodedBatch:
    fast, slow = _pair(rates)
    a, b = fast.decode_ndjson(data, first_line), slow.decode_ndjson(data, first_line)
    assert_frame_equal(a.frame, b.frame)
    assert a.quarantined == b.quarantined
    assert a.sku_changes == b.sku_changes
    assert a.records == b.records
    return a


def test_the_extension_is_built() -> None:
    # `make install` builds it (with Debian's libsimdjson-dev); without it every line
    # would quietly be decoded in Python, several times more slowly.
    assert native.available()


def test_contract_examples_decode_the_same(rates: RatesTable) -> None:
    assert _same(rates, VALID).frame.height == 9
    assert len(_same(rates, INVALID, 40).quarantined) > 10
    mixed = [
        x for pair in zip(VALID.splitlines(), INVALID.splitlines(), strict=False) for x in pair
    ]
    _same(rates, b"\n".join(mixed) + b"\n\n  \n", 7)


def test_a_simulated_day_decodes_the_same_and_mostly_natively(tmp_path: Path) -> None:
    simulate(SimConfig(minutes=2, rate=60, seed=11), tmp_path)
    rates = RatesTable.load(tmp_path / "rates.json")
    data = (tmp_path / "events.ndjson").read_bytes()
    batch = _same(rates, data)
    assert batch.sku_changes and batch.frame.height > 1000
    fast, _ = _pair(rates)
    assert fast._native is not None
    scan = fast._native.scan(data.rstrip(b"\n"), 1)
    # the scanner takes RFC 3339 timestamps and sku changes too; only odd lines (a
    # leap second, a bad line) may be left to Python
    assert len(scan.deferred) < 0.1 * batch.records


# Values a field may be set to: right, wrong type, edge of a rule, odd text.
ODD_VALUES = st.sampled_from(
    [
        None,
        "",
        "x" * 128,
        "x" * 129,
        "é" * 128,
        "é" * 129,
        'a"b\\c',
        "tab\there",
        "\u0000",
        "中文",
        0,
        1,
        -1,
        2,
        1.5,
        -0.0,
        0.1,
        12.345,
        1e20,
        2**53,
        2**63,
        10**18,
        True,
        False,
        [],
        {},
        {"color": "red"},
        {"color": "red", "size": "M"},
        {"color": 1},
        {"q": 'a"b'},
        {"a": {"b": "c"}},
        "CN-ZJ",
        "cn-zj",
        "US-CA1",
        "CN",
        "app",
        "succeeded",
        "shipped",
        "damaged",
        "item",
        "CNY",
        "JPY",
        "USD",
        "XXX",
        "1794326400123",
        "01794326400123",
        "2026-11-11T00:00:01.250+08:00",
        "2026-11-11T00:00:01Z",
        "2026-11-11 00:00:01.5-05:30",
        "2026-02-29T00:00:00Z",
    ]
)
FIELD_NAMES = st.sampled_from(
    sorted({k for rec in BASES for k in rec} | {"amount", "latency_ms", "unknown_field"})
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    rec: dict[str, Any] = dict(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "drop", "type"]))
        if action == "set":
            rec[draw(FIELD_NAMES)] = draw(ODD_VALUES)
        elif action == "drop" and rec:
            rec.pop(draw(st.sampled_from(sorted(rec))))
        else:
            rec["type"] = draw(st.sampled_from(["order", "payment", "refund", "visit", "nope"]))
    text = json.dumps(
        rec,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")])),
    )
    trick = draw(st.sampled_from(["none", "none", "dup", "cut", "space", "array"]))
    if trick == "dup" and len(text) > 2:  # a repeated key
        text = text[:-1] + ', "id": "again"}'
    elif trick == "cut":
        text = text[: len(text) // 2]
    elif trick == "space":
        text = "  " + text + "\r"
    elif trick == "array":
        text = f"[{text}]"
    return text.encode()


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    """RFC 3339 timestamps, mostly valid, some just outside what either path reads."""
    year = draw(st.sampled_from([1969, 1970, 1971, 2024, 2026, 2100, 9999]))
    month = draw(st.integers(0, 13))
    day = draw(st.sampled_from([0, 1, 28, 29, 30, 31, 32]))
    hms = [draw(st.sampled_from([0, 9, 23, 24])), draw(st.sampled_from([0, 59, 60]))]
    sec = draw(st.sampled_from([0, 59, 60]))
    frac = draw(
        st.sampled_from(["", ".", ".5", ".25", ".999", ".1234", ".123456789", ".1234567891"])
    )
    sep = draw(st.sampled_from(["T", " ", "t"]))
    zone = draw(st.sampled_from(["Z", "z", "+08:00", "-05:30", "+23:59", "+24:00", "-00:00", ""]))
    return f"{year:04d}-{month:02d}-{day:02d}{sep}{hms[0]:02d}:{hms[1]:02d}:{sec:02d}{frac}{zone}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stamps=st.lists(rfc3339(), min_size=1, max_size=20))
def test_rfc3339_timestamps_read_the_same(stamps: list[str]) -> None:
    from conftest import RATES_DOC

    base = dict(BASES[0])
    lines = [json.dumps({**base, "id": f"v-{i}", "ts": ts}).encode() for i, ts in enumerate(stamps)]
    _same(RatesTable.parse(json.dumps(RATES_DOC)), b"\n".join(lines))


def test_common_rfc3339_timestamps_are_read_natively(rates: RatesTable) -> None:
    fast, _ = _pair(rates)
    assert fast._native is not None
    line = json.dumps({**BASES[0], "ts": "2026-11-11T00:00:01.2509+08:00"}).encode()
    scan = fast._native.scan(line, 1)
    assert len(scan.deferred) == 0
    assert scan.frame["ts"].to_list() == [1794326401250]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(st.one_of(lines(), st.just(b""), st.just(b"   ")), min_size=1, max_size=12))
def test_any_lines_decode_the_same(batch: list[bytes]) -> None:
    from conftest import RATES_DOC

    _same(RatesTable.parse(json.dumps(RATES_DOC)), b"\n".join(batch) + b"\n", 3)


def test_switched_off_by_the_environment(
    monkeypatch: pytest.MonkeyPatch, rates: RatesTable
) -> None:
    monkeypatch.setenv("WARROOM_NATIVE", "0")
    assert Decoder(rates)._native is None


def test_threads_sharing_one_decoder_get_their_own_answers(tmp_path: Path) -> None:
    # The server decodes each ingest request in its own thread through one Decoder,
    # and the scanner runs without the GIL: no state may be shared between calls.
    simulate(SimConfig(minutes=1, rate=60, seed=5), tmp_path)
    rates = RatesTable.load(tmp_path / "rates.json")
    lines = (tmp_path / "events.ndjson").read_bytes().splitlines()
    batches = [b"\n".join(lines[i : i + 300]) + b"\n" for i in range(0, len(lines), 300)]
    fast, _ = _pair(rates)
    alone = [fast.decode_ndjson(b, 1).frame for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            together = list(pool.map(lambda b: fast.decode_ndjson(b, 1).frame, batches))
            for a, b in zip(alone, together, strict=True):
                assert_frame_equal(a, b)
