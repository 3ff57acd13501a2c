"""The contract's own examples: every valid line accepted, every invalid one quarantined
with the reason examples/invalid.reasons gives."""

from __future__ import annotations

from conftest import CONTRACT
from warroom.contract.decode import Decoder
from warroom.contract.rates import RatesTable


def _reasons() -> dict[int, str]:
    out = {}
    for line in (CONTRACT / "examples" / "invalid.reasons").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        number, _rid, reason = line.split("\t")
        out[int(number)] = reason
    return out


def test_every_valid_example_is_accepted(rates: RatesTable) -> None:
    data = (CONTRACT / "examples" / "valid.ndjson").read_bytes()
    batch = Decoder(rates).decode_ndjson(data, 1)
    assert batch.quarantined == []
    assert batch.frame.height == batch.records == 9
    assert len(batch.sku_changes) == 1


def test_every_invalid_example_is_quarantined_with_its_reason(rates: RatesTable) -> None:
    data = (CONTRACT / "examples" / "invalid.ndjson").read_bytes()
    batch = Decoder(rates).decode_ndjson(data, 1)
    assert batch.frame.height == 0
    got = {q.line: q.reason for q in batch.quarantined}
    assert got == _reasons()
    raw_lines = data.split(b"\n")
    for q in batch.quarantined:
        assert q.raw == raw_lines[q.line - 1]  # kept byte for byte


def test_bad_records_do_not_stop_the_good_ones_around_them(rates: RatesTable) -> None:
    valid = (CONTRACT / "examples" / "valid.ndjson").read_bytes().splitlines()
    invalid = (CONTRACT / "examples" / "invalid.ndjson").read_bytes().splitlines()
    mixed = [x for pair in zip(valid, invalid, strict=False) for x in pair]
    batch = Decoder(rates).decode_ndjson(b"\n".join(mixed) + b"\n", 1)
    assert batch.frame.height == len(valid)
    assert len(batch.quarantined) == len(valid)  # zip stops at the shorter list: 9 invalid
    assert sorted(batch.frame["pos"].to_list()) == list(range(1, 2 * len(valid), 2))


def test_blank_lines_are_skipped_and_line_numbers_kept(rates: RatesTable) -> None:
    data = b'\n{"type":"teleport","id":"a","ts":1}\n   \n{"type":"visit"}\n'
    batch = Decoder(rates).decode_ndjson(data, 1)
    assert [q.line for q in batch.quarantined] == [2, 4]
    assert batch.records == 2


def test_money_is_exact_in_the_base_currency(rates: RatesTable) -> None:
    line = (
        b'{"type":"order","id":"a","ts":1,"order_id":"o","user_id":"u","merchant_id":"m",'
        b'"item_id":"i","sku_id":"s","category":"c","region":"US-CA","country":"US",'
        b'"channel":"web","quantity":3,"unit_price":0.1,"currency":"USD"}'
    )
    batch = Decoder(rates).decode_ndjson(line, 1)
    # 3 x 0.10 USD = 30 cents; x 7.1556 = 2.14668 CNY -> 2.15 (half-even at the cent)
    assert batch.frame["value_base"].to_list() == [215]


def test_wrong_json_types_name_the_field(rates: RatesTable) -> None:
    cases = [
        (
            b'{"type":"visit","id":"a","ts":1,"user_id":5,"region":"CN-ZJ","country":"CN",'
            b'"channel":"app","page":"home"}',
            "visit.user_id must be a string of 1 to 128 characters",
        ),
        (
            b'{"type":"payment","id":"a","ts":1,"order_id":"o","user_id":"u","status":"failed",'
            b'"method":"card","amount":1,"currency":"CNY","latency_ms":-1}',
            "payment.latency_ms must be an integer >= 0",
        ),
        (
            b'{"type":"order","id":"a","ts":1,"order_id":"o","user_id":"u","merchant_id":"m",'
            b'"item_id":"i","sku_id":"s","category":"c","region":"Zhejiang","country":"CN",'
            b'"channel":"app","quantity":1,"unit_price":1,"currency":"CNY"}',
            "order.region must be an ISO 3166-2 code like CN-ZJ",
        ),
        (
            b'{"type":"order","id":"a","ts":1,"order_id":"o","user_id":"u","merchant_id":"m",'
            b'"item_id":"i","sku_id":"s","category":"c","region":"CN-ZJ","country":"CN",'
            b'"channel":"app","quantity":1,"unit_price":1,"currency":"CNY","sku_attrs":{"size":5}}',
            "order.sku_attrs must be an object of strings",
        ),
        (
            b'{"type":"sku_change","id":"a","ts":1,"merchant_id":"m","item_id":"i","sku_id":"s",'
            b'"actor":"x","after":{"attrs":{"color":1}}}',
            "sku_change.after.attrs must be an object of strings",
        ),
    ]
    for line, reason in cases:
        # with a bad JSON type the whole batch takes the slow path; a good line rides along
        good = (CONTRACT / "examples" / "valid.ndjson").read_bytes().splitlines()[0]
        batch = Decoder(rates).decode_ndjson(line + b"\n" + good, 1)
        assert [q.reason for q in batch.quarantined] == [reason], line
        assert batch.frame.height == 1


def test_an_order_too_large_to_count_exactly_is_quarantined(rates: RatesTable) -> None:
    # 10**16 units at 9.99: past 2**53 minor units, where int64 money would also wrap
    big = (
        b'{"type":"order","id":"e-9","ts":1794326400123,"order_id":"o-9","user_id":"u-1",'
        b'"merchant_id":"m-7","item_id":"i-10","sku_id":"s-101","category":"apparel",'
        b'"region":"CN-ZJ","country":"CN","channel":"app","quantity":10000000000000000,'
        b'"unit_price":9.99,"currency":"USD"}'
    )
    valid = (CONTRACT / "examples" / "valid.ndjson").read_bytes()
    batch = Decoder(rates).decode_ndjson(big + b"\n" + valid, 1)
    assert [(q.line, q.reason) for q in batch.quarantined] == [
        (1, "order.unit_price x quantity must be below 2**53 minor units")
    ]
    assert batch.frame.height == 9
