"""The native NDJSON scanner (src/native/ndjson_scan.cpp), given the rules of rules.py.

The scanner takes the lines it is sure of and defers the rest to the Python decoder,
which names every reason; see the C++ file. `Scan.frame` holds the accepted lines in
the normalised columns of `Decoder.normalise`, hashes and base money aside (those are
made by the same polars and numpy code as the Python path's).

Set WARROOM_NATIVE=0 to decode everything in Python (the reference the tests compare).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from warroom.contract.rules import (
    COMMON,
    COUNTRY_PATTERN,
    ENUMS,
    FIELDS,
    ID_MAX_LEN,
    MINIMUM,
    MONEY_FIELD,
    NON_EMPTY,
    PATTERN_TYPES,
    PATTERNS,
    RECORD_TYPES,
    REGION_PATTERN,
    REQUIRED,
)

try:
    from warroom import _ndjson_scan  # type: ignore[attr-defined]
except ImportError:  # built without simdjson (see setup.py)
    _ndjson_scan = None

# The C++ file checks these two shapes by hand: it must be told if they change.
_SHAPES = {"region": (REGION_PATTERN, 1), "country": (COUNTRY_PATTERN, 2)}
assert REGION_PATTERN == r"^[A-Z]{2}-[A-Z0-9]{1,3}$" and COUNTRY_PATTERN == r"^[A-Z]{2}$"
assert set(PATTERNS) == set(_SHAPES)

STR, I64, F64, BOOL, TS, ATTRS, NESTED = range(7)
# Objects read by Python from the raw line (sku_change's before/after): not columns.
NESTED_FIELDS = sorted({n for spec in FIELDS.values() for n, k in spec.items() if k == "sku_state"})


def available() -> bool:
    return _ndjson_scan is not None and os.environ.get("WARROOM_NATIVE", "1") != "0"


@dataclass
class Scan:
    frame: pl.DataFrame  # accepted lines: pos, kind, ts, the string/int/bool fields
    value_minor: np.ndarray
    currency: np.ndarray  # index into the scanner's currency codes; -1: no money
    deferred: np.ndarray  # 0-based line indexes the Python decoder must read
    # (0-based line index, start, end) of taken lines with nested objects, shape (k, 3)
    nested: np.ndarray
    spans: np.ndarray  # (start, end) byte offsets of each deferred line, shape (k, 2)
    records: int  # non-blank lines


class NativeScanner:
    def __init__(self, schema: dict[str, pl.DataType], codes: list[str], digits: list[int]):
        names = [*schema, *NESTED_FIELDS]
        json = [_json_kind(name, dtype) for name, dtype in schema.items()]
        json += [NESTED] * len(NESTED_FIELDS)
        at = {name: i for i, name in enumerate(names)}
        rules = [_type_rules(rtype, at) for rtype in RECORD_TYPES]
        assert _ndjson_scan is not None
        self._scanner = _ndjson_scan.Scanner(
            names, json, list(RECORD_TYPES), rules, codes, digits, ID_MAX_LEN
        )
        self._schema = schema

    def scan(self, buf: bytes, first_line: int) -> Scan:
        out = self._scanner.scan(buf)
        n = out["n"]
        line = np.frombuffer(out["line"], dtype=np.int64)
        cols: dict[str, pl.Series] = {
            "pos": pl.Series("pos", line + first_line),
            "kind": pl.Series("kind", np.frombuffer(out["kind"], dtype=np.uint8)),
            "ts": pl.Series("ts", np.frombuffer(out["ts"], dtype=np.int64)),
        }
        for name, (*buffers, valid) in out["columns"].items():
            cols[name] = _column(name, self._schema[name], n, buffers, valid)
        return Scan(
            frame=pl.DataFrame(cols),
            value_minor=np.frombuffer(out["value_minor"], dtype=np.int64),
            currency=np.frombuffer(out["currency"], dtype=np.int32),
            deferred=np.frombuffer(out["deferred"], dtype=np.int64),
            spans=np.frombuffer(out["spans"], dtype=np.int64).reshape(-1, 2),
            nested=np.frombuffer(out["nested"], dtype=np.int64).reshape(-1, 3),
            records=out["records"],
        )


def _json_kind(name: str, dtype: pl.DataType) -> int:
    if name == "ts":
        return TS
    if name == "sku_attrs":
        return ATTRS
    return {pl.String: STR, pl.Int64: I64, pl.Float64: F64, pl.Boolean: BOOL}[dtype]


def _type_rules(rtype: str, at: dict[str, int]) -> dict[str, object]:
    spec = FIELDS[rtype]
    return {
        "allowed": [at[n] for n in (*COMMON, *spec) if n in at],
        "required": [at[n] for n in REQUIRED[rtype] if n in at],
        "ids": [at[n] for n, kind in spec.items() if kind == "id" and n in at],
        "non_empty": [at[n] for (rt, n) in NON_EMPTY if rt == rtype],
        "shapes": [(at[n], _SHAPES[n][1]) for n in PATTERNS] if rtype in PATTERN_TYPES else [],
        "enums": [(at[n], list(values)) for (rt, n), values in ENUMS.items() if rt == rtype],
        "money": at[MONEY_FIELD[rtype]] if rtype in MONEY_FIELD else -1,
        "minimum": [(at[n], least) for (rt, n), least in MINIMUM.items() if rt == rtype],
        # lines with nested objects (sku_change's before/after) are handed back to Python
        "nested": any(kind == "sku_state" for kind in spec.values()),
    }


# The scanner's buffers as Arrow arrays, which polars takes without a copy. Strings are
# string views (a large_string array was copied into views: ~1 ms per 50,000 rows);
# booleans arrive a byte a value and are packed to Arrow's bits.
_ARROW = {pl.String: pa.string_view(), pl.Int64: pa.int64(), pl.Boolean: pa.bool_()}


def _column(name: str, dtype: pl.DataType, n: int, buffers: list[Any], valid: Any) -> pl.Series:
    mask = np.frombuffer(valid, dtype=np.uint8)
    nulls = n - int(mask.sum())
    bitmap = pa.py_buffer(_bits(mask)) if nulls else None
    if dtype == pl.Boolean:
        buffers = [_bits(np.frombuffer(buffers[0], dtype=np.uint8))]
    arrow = pa.Array.from_buffers(_ARROW[dtype], n, [bitmap, *map(pa.py_buffer, buffers)], nulls)
    series = pl.from_arrow(arrow)
    assert isinstance(series, pl.Series)
    return series.alias(name)


def _bits(mask: np.ndarray) -> np.ndarray:
    return np.packbits(mask, bitorder="little")
