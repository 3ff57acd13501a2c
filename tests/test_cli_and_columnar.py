"""The command line end to end, and Arrow IPC / Parquet giving what NDJSON gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from conftest import CONTRACT
from eventgen import stream
from warroom.cli import app
from warroom.store.db import Store

cli = CliRunner()


def _run(events: Path, data: Path, rates: Path) -> None:
    result = cli.invoke(
        app, ["run", "--events", str(events), "--data", str(data), "--rates", str(rates), "--quiet"]
    )
    assert result.exit_code == 0, result.output


def test_quarantine_prints_source_line_reason_raw(tmp_path: Path, rates_file: Path) -> None:
    events = tmp_path / "mixed.ndjson"
    valid = (CONTRACT / "examples" / "valid.ndjson").read_bytes()
    invalid = (CONTRACT / "examples" / "invalid.ndjson").read_bytes()
    events.write_bytes(valid + invalid)
    _run(events, tmp_path / "d", rates_file)
    out = cli.invoke(app, ["quarantine", "--data", str(tmp_path / "d"), "--format", "ndjson"])
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 11
    assert set(rows[0]) == {"source", "line", "reason", "raw"}
    assert rows[0]["line"] == 10 and rows[0]["reason"] == "not valid JSON (truncated object)"
    assert rows[0]["raw"] == invalid.splitlines()[0].decode()


def test_export_money_is_an_exact_decimal_string(tmp_path: Path, rates_file: Path) -> None:
    events = tmp_path / "valid.ndjson"
    events.write_bytes((CONTRACT / "examples" / "valid.ndjson").read_bytes())
    _run(events, tmp_path / "d", rates_file)
    out = cli.invoke(
        app,
        [
            "export",
            "--data",
            str(tmp_path / "d"),
            "--metric",
            "gmv",
            "--by",
            "region",
            "--every",
            "1s",
        ],
    )
    assert out.exit_code == 0, out.output
    rows = out.stdout.splitlines()
    assert rows[0] == "window_start,region,value"
    # 2 x 199.90 CNY; the US order is 49.99 USD x 7.1556 = 357.708... -> 357.71
    assert "1794326400000,CN-ZJ,399.80" in rows
    assert "1794326401000,US-CA,357.71" in rows
    bad = cli.invoke(app, ["export", "--data", str(tmp_path / "d"), "--metric", "gmvv"])
    assert bad.exit_code == 2 and "unknown 'gmvv'" in bad.output


def test_arrow_ipc_and_parquet_give_what_ndjson_gives(tmp_path: Path, rates_file: Path) -> None:
    events = stream(random.Random(3), 400)
    ndjson = tmp_path / "e.ndjson"
    ndjson.write_bytes(b"\n".join(e.line() for e in events) + b"\n")
    frame = pl.read_ndjson(ndjson, infer_schema_length=None)
    frame.write_ipc(tmp_path / "e.arrow")
    frame.write_parquet(tmp_path / "e.parquet")
    cells = {}
    for name in ("e.ndjson", "e.arrow", "e.parquet"):
        _run(tmp_path / name, tmp_path / f"d-{name}", rates_file)
        cells[name] = (
            Store.open(tmp_path / f"d-{name}").cells(1000).sort(["win", "gset", "k1", "k2"])
        )
    assert cells["e.ndjson"].height > 0
    assert cells["e.arrow"].equals(cells["e.ndjson"])
    assert cells["e.parquet"].equals(cells["e.ndjson"])


def test_columnar_sku_changes_match_ndjson(tmp_path: Path, rates: object) -> None:
    from warroom.contract.decode import Decoder

    changes = [
        {
            "type": "sku_change",
            "id": f"c{i}",
            "ts": 1_794_326_400_000 + i,
            "merchant_id": f"m{i % 3}",
            "item_id": "i1",
            "sku_id": f"s{i}",
            "actor": "batch:price-sync",
            "before": {"attrs": {"color": "red", "size": "M"}, "price": 10.5, "currency": "CNY"},
            "after": {"attrs": {"color": "blue", "size": "M"}, "price": 9.5, "currency": "CNY"},
        }
        for i in range(50)
    ]
    for c in changes[1::2]:  # an attribute sync: no price (a null struct field in Arrow)
        c["actor"] = "batch:attr-sync"
        c["before"] = {"attrs": {"color": "red", "size": "M"}}
    ndjson = b"\n".join(json.dumps(c).encode() for c in changes) + b"\n"
    frame = pl.read_ndjson(ndjson)
    decoder = Decoder(rates)  # type: ignore[arg-type]
    from_lines = decoder.decode_ndjson(ndjson, 1)
    from_arrow = decoder.decode_arrow(frame.to_arrow(), 1)
    assert from_lines.quarantined == from_arrow.quarantined == []
    assert len(from_arrow.sku_changes) == 50
    for a, b in zip(from_lines.sku_changes, from_arrow.sku_changes, strict=True):
        assert (a["pos"], a["sku_id"], a["before"], a["after"]) == (
            b["pos"],
            b["sku_id"],
            b["before"],
            b["after"],
        )


def test_small_arrow_batches_are_gathered_into_chunks_with_exact_positions(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.ipc

    from warroom.sources.files import arrow_chunks

    table = pa.table({"type": ["visit"] * 1000, "n": list(range(1000))})
    path = tmp_path / "small.arrow"
    with pa.ipc.new_file(str(path), table.schema) as writer:
        writer.write_table(table, max_chunksize=30)  # 34 record batches
    chunks = list(arrow_chunks(str(path), offset=0, batch_rows=200))
    assert [c.first_line for c in chunks] == [1, 211, 421, 631, 841]
    assert [c.end_offset for c in chunks] == [210, 420, 630, 840, 1000]
    assert all(c.table is not None and c.table.num_rows == 210 for c in chunks[:-1])
    resumed = list(arrow_chunks(str(path), offset=455, batch_rows=200))
    assert resumed[0].first_line == 456
    assert resumed[0].table is not None and resumed[0].table["n"][0].as_py() == 455
    assert sum(c.table.num_rows for c in resumed if c.table is not None) == 545


def test_money_in_each_currency_is_exact_in_its_own_minor_units(
    tmp_path: Path, rates_file: Path
) -> None:
    lines = [
        {"type": "order", "id": "o1", "ts": 1794326400000, "order_id": "A", "user_id": "u1",
         "merchant_id": "m1", "item_id": "i1", "sku_id": "s1", "category": "toys",
         "quantity": 3, "unit_price": 1980,
         "currency": "JPY", "region": "JP-13", "country": "JP", "channel": "app"},
        {"type": "order", "id": "o2", "ts": 1794326400100, "order_id": "B", "user_id": "u2",
         "merchant_id": "m1", "item_id": "i1", "sku_id": "s1", "category": "toys",
         "quantity": 1, "unit_price": 49.99,
         "currency": "USD", "region": "US-CA", "country": "US", "channel": "app"},
        {"type": "refund", "id": "r1", "ts": 1794326401000, "refund_id": "R", "order_id": "A",
         "user_id": "u1", "merchant_id": "m1", "amount": 333, "currency": "JPY",
         "reason": "changed_mind"},
    ]  # fmt: skip
    events = tmp_path / "e.ndjson"
    events.write_text("".join(json.dumps(d) + "\n" for d in lines))
    _run(events, tmp_path / "d", rates_file)
    assert list(Store.open(tmp_path / "d").quarantined()) == []

    def export(metric: str, by: str) -> list[str]:
        args = ["export", "--data", str(tmp_path / "d"), "--metric", metric, "--by", by]
        out = cli.invoke(app, [*args, "--every", "1m"])
        assert out.exit_code == 0, out.output
        return out.stdout.splitlines()

    minute = 1794326400000
    assert export("gmv_local", "currency")[1:] == [f"{minute},JPY,5940", f"{minute},USD,49.99"]
    assert export("refund_amount_local", "currency")[1:] == [
        f"{minute},JPY,333",
        f"{minute},USD,0.00",
    ]
    # the same money in the base currency: 5940 x 0.046582 = 276.69708 -> 276.70
    assert f"{minute},JPY,276.70" in export("gmv", "currency")
    mixed = cli.invoke(app, ["export", "--data", str(tmp_path / "d"), "--metric", "gmv_local"])
    assert mixed.exit_code == 2 and "by must include currency" in " ".join(mixed.output.split())
