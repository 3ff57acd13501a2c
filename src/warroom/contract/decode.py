"""Batch decoding: NDJSON bytes (or an Arrow table) to validated, normalised columns.

Fast path: polars reads the whole batch against one flat schema, then every rule of
EVENTS.md is checked with vectorised expressions. Slow path: when polars rejects the
batch (bad JSON, a wrong JSON type), slowpath.py checks the lines one by one, the bad
ones are quarantined and the good ones go back through the fast path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from warroom.contract import money, native
from warroom.contract.rates import RatesTable
from warroom.contract.rules import (
    ENUMS,
    FIELDS,
    ID_MAX_LEN,
    KIND_CODE,
    MINIMUM,
    MONEY_FIELD,
    NON_EMPTY,
    PATTERN_TYPES,
    PATTERNS,
    RECORD_TYPES,
    REQUIRED,
    one_of,
)
from warroom.contract.slowpath import parse_line, type_reason
from warroom.contract.timestamps import parse_ts_column

S, I64, F64 = pl.String, pl.Int64, pl.Float64
# One flat schema for every record type. Nested objects of sku_change are read by the
# slow path (those records are rare); sku_attrs arrives as its JSON text.
SCHEMA: dict[str, pl.DataType] = {
    "type": S,
    "id": S,
    "ts": S,
    "order_id": S,
    "user_id": S,
    "merchant_id": S,
    "item_id": S,
    "sku_id": S,
    "category": S,
    "region": S,
    "country": S,
    "channel": S,
    "quantity": I64,
    "unit_price": F64,
    "currency": S,
    "campaign": S,
    "sku_attrs": S,
    "device_id": S,
    "address_id": S,
    "status": S,
    "method": S,
    "amount": F64,
    "latency_ms": I64,
    "error": S,
    "refund_id": S,
    "reason": S,
    "return_shipped": pl.Boolean,
    "carrier": S,
    "actor": S,
    "page": S,
}
HASH_SEED = 0x5EED
ORDER_TOO_LARGE = "order.unit_price x quantity must be below 2**53 minor units"
# The normalised frame's ids hashed to u64 (dedup and joins), and the fields it keeps.
_HASHES = (
    pl.col("id").hash(HASH_SEED).alias("id_hash"),
    pl.col("order_id").hash(HASH_SEED).alias("order_hash"),
    pl.col("user_id").hash(HASH_SEED).alias("user_hash"),
)
_PASSED = (
    "id",
    "order_id",
    "user_id",
    "merchant_id",
    "item_id",
    "sku_id",
    "category",
    "region",
    "country",
    "channel",
    "campaign",
    "method",
    "status",
    "quantity",
    "currency",
    "latency_ms",
    "error",
    "refund_id",
    "reason",
    "return_shipped",
    "device_id",
    "address_id",
    "sku_attrs",
    "actor",
    "page",
    "carrier",
)
# polars quietly reads a JSON number (or object) in a string field as its text. Such
# batches must go to the slow path, which names the field. A numpy pre-scan finds every
# `":` whose value does not start with a quote and accepts the batch only when each one
# follows a key that may hold a non-string; anything else (an unknown key, whitespace
# around the colon) falls back to the exact regex scan (~0.6 s per million lines).
_STRING_FIELDS = sorted(
    {n for spec in FIELDS.values() for n, k in spec.items() if k in ("str", "id")} | {"type", "id"}
)
_NON_STRING_VALUE = r'"(?:' + "|".join(_STRING_FIELDS) + r')"\s*:\s*[^"\s]'


def _signature(keys: list[str]) -> np.ndarray:
    """The last four bytes of each quoted key (`"ts"`, `unt"` of "amount") as u32."""
    tails = [f'"{k}"'.encode()[-4:].rjust(4, b'"') for k in keys]
    return np.asarray([int.from_bytes(t, "big") for t in tails], dtype=np.uint32)


# Keys that may hold a non-string value: typed fields, and price/attrs inside sku_change.
_NON_STRING_SIGS = _signature(
    sorted(
        {n for spec in FIELDS.values() for n, k in spec.items() if k not in ("str", "id")}
        | {"ts", "price", "attrs"}
    )
)
# Sound only because no string field shares a signature with those keys.
assert not np.isin(_signature(_STRING_FIELDS), _NON_STRING_SIGS).any()
_QUOTE, _COLON, _SPACE = ord('"'), ord(":"), ord(" ")


def _has_non_string_value(buf: bytes) -> bool:
    try:
        text = buf.decode("utf-8")
    except UnicodeDecodeError:
        return True  # not UTF-8: the slow path names the line
    if _only_known_non_strings(buf):
        return False
    return bool(pl.Series([text]).str.contains(_NON_STRING_VALUE)[0])


def _only_known_non_strings(buf: bytes) -> bool:
    """True when every non-string value follows a key allowed to hold one. Conservative:
    False only means "scan properly" (whitespace at a colon, a key at the very start).

    Only the colons are looked at (one pass over the buffer finds them), so the cost is
    per colon, not per byte."""
    a = np.frombuffer(buf, dtype=np.uint8)
    if len(a) < 6:
        return False
    at = np.flatnonzero(a[1:-1] == _COLON) + 1
    left, right = a[at - 1], a[at + 1]
    if ((left <= _SPACE) | (right <= _SPACE)).any():  # whitespace or control
        return False
    cand = at[(left == _QUOTE) & (right != _QUOTE)]
    if len(cand) and cand[0] < 4:
        return False
    sig = np.zeros(len(cand), dtype=np.uint32)
    for back in (4, 3, 2, 1):  # the key's last four bytes, its closing quote included
        sig = (sig << 8) | a[cand - back]
    return bool(np.isin(sig, _NON_STRING_SIGS).all())


class LazyLines:
    """The lines of a batch, split only when a raw line is needed (bad or nested rows)."""

    def __init__(self, buf: bytes) -> None:
        self._buf = buf
        self._lines: list[bytes] | None = None

    @classmethod
    def of(cls, lines: list[bytes]) -> LazyLines:
        made = cls(b"")
        made._lines = lines
        return made

    def all(self) -> list[bytes]:
        if self._lines is None:
            self._lines = self._buf.split(b"\n")
        return self._lines

    def __getitem__(self, i: int) -> bytes:
        return self.all()[i]


class _Spans(LazyLines):
    """Some lines of a batch by their index, cut out of it by byte span (no split)."""

    def __init__(self, buf: bytes, spans: dict[int, tuple[int, int]]) -> None:
        super().__init__(buf)
        self._spans = spans

    def __getitem__(self, i: int) -> bytes:
        start, end = self._spans[i]
        return self._buf[start:end]


@dataclass(frozen=True)
class Quarantined:
    line: int
    raw: bytes
    reason: str


@dataclass
class DecodedBatch:
    frame: pl.DataFrame  # valid records; see Decoder.normalise for the columns
    quarantined: list[Quarantined] = field(default_factory=list)
    records: int = 0  # non-blank lines (or rows) read
    sku_changes: list[dict[str, Any]] = field(default_factory=list)  # pos + parsed record
    # the engine's dimension, latency and status codes of `frame`, when the thread that
    # decoded the batch also coded it (`NativeEngine.precode`); the engine codes it if not
    codes: tuple[Any, ...] | None = None


def _rule(broken: pl.Expr, reason: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A rule of EVENTS.md: when `broken` holds, the record is quarantined for `reason`."""
    return broken, reason


class Decoder:
    """Decodes batches for one rates table. Stateless between batches."""

    def __init__(self, rates: RatesTable) -> None:
        self.rates = rates
        self._digits = {code: r.digits for code, r in rates.rates.items()}
        self._codes = list(self._digits)  # a currency's index: its code in the Enum
        self._codes_enum = pl.Enum(self._codes)
        self._code_digits = np.asarray(list(self._digits.values()), dtype=np.int64)
        # every rule of EVENTS.md as one expression, built once (~1 ms: a fixed cost
        # per batch that small HTTP batches would feel)
        rules = self._rule_checks()
        self._rules = pl.coalesce([pl.when(bad).then(reason) for bad, reason in rules])
        # any rule broken, as booleans: the reasons (a string column per rule, almost all
        # nulls) are made only for the rows that break one (session 14: the rules took
        # 0.42-0.63 s of a 2 M-row replay from Arrow)
        self._any_broken = pl.any_horizontal([bad for bad, _ in rules])
        self._native = (
            native.NativeScanner(SCHEMA, self._codes, list(self._digits.values()))
            if native.available()
            else None
        )

    # -- entry points -------------------------------------------------------------
    def decode_ndjson(self, buf: bytes, first_line: int) -> DecodedBatch:
        """`buf` holds whole lines; `first_line` is the 1-based number of its first."""
        if not buf or buf.isspace():  # stops at the first other byte: no copy
            return DecodedBatch(frame=_empty_frame(), records=0)
        if self._native is not None:  # the scanner takes a last newline as it is
            return self._decode_native(buf, first_line)
        if buf.endswith(b"\n"):
            buf = buf[:-1]
        return self._decode_python(buf, first_line)

    def _decode_native(self, buf: bytes, first_line: int) -> DecodedBatch:
        """The scanner's lines, and the lines it defers decoded in Python, in line order."""
        assert self._native is not None
        scan = self._native.scan(buf, first_line)
        value_base = np.zeros(len(scan.value_minor), dtype=np.int64)
        priced = np.flatnonzero(scan.currency >= 0)
        value_base[priced] = money.to_base(
            scan.value_minor[priced], scan.currency[priced], self._codes, self.rates
        )
        frame = scan.frame.select(
            "pos",
            "kind",
            "ts",
            *_HASHES,
            *_PASSED,
            value_minor=pl.Series(scan.value_minor),
            value_base=pl.Series(value_base),
        )
        quarantined: list[Quarantined] = []
        sku_changes: list[dict[str, Any]] = []
        if len(scan.nested):  # sku changes: their nested objects are read here, per line
            lines = _Spans(buf, {int(r): (int(a), int(b)) for r, a, b in scan.nested.tolist()})
            frame = frame.with_columns(_row=pl.col("pos") - first_line)  # the line index
            is_change = frame["kind"] == KIND_CODE["sku_change"]
            assert int(is_change.sum()) == len(scan.nested)
            frame, sku_changes = self._sku_changes(frame, is_change, lines, quarantined)
            frame = frame.drop("_row")
        if len(scan.deferred) == 0:
            return DecodedBatch(frame, _sorted(quarantined), scan.records, sku_changes)
        # The deferred lines as a batch of their own, numbered 1..k, then renumbered.
        deferred = b"\n".join(buf[start:end] for start, end in scan.spans.tolist())
        rest = self._decode_python(deferred, 1)
        line_of = first_line + scan.deferred  # line k of `rest` is line_of[k - 1]
        rest_frame = rest.frame.with_columns(pos=pl.Series(line_of[rest.frame["pos"] - 1]))
        quarantined += [
            Quarantined(int(line_of[q.line - 1]), q.raw, q.reason) for q in rest.quarantined
        ]
        for change in rest.sku_changes:
            change["pos"] = int(line_of[change["pos"] - 1])
        sku_changes = sorted([*sku_changes, *rest.sku_changes], key=lambda c: c["pos"])
        merged = pl.concat([frame, rest_frame]).sort("pos")
        return DecodedBatch(merged, _sorted(quarantined), scan.records, sku_changes)

    def _decode_python(self, buf: bytes, first_line: int) -> DecodedBatch:
        lines = LazyLines(buf)
        count = buf.count(b"\n") + 1
        quarantined: list[Quarantined] = []
        df: pl.DataFrame | None = None
        if not _has_non_string_value(buf):
            try:
                df = _read(buf)
            except Exception:  # polars names no line: the slow path finds the bad ones
                df = None
        if df is not None and df.height == count:  # the common case: no blank lines
            line_nos = first_line + np.arange(count, dtype=np.int64)
            return self._finish(df, np.arange(count, dtype=np.int64), lines, line_nos, [])
        keep = [i for i, line in enumerate(lines.all()) if line.strip()]
        line_nos = first_line + np.asarray(keep, dtype=np.int64)
        lines = LazyLines.of([lines[i] for i in keep])
        if df is not None and df.height == len(keep):
            rows = np.arange(len(keep), dtype=np.int64)
        else:
            df, rows = self._slow_path(lines.all(), line_nos, quarantined)
        return self._finish(df, rows, lines, line_nos, quarantined)

    def decode_arrow(self, table: pa.Table | pl.DataFrame, first_row: int) -> DecodedBatch:
        """Arrow IPC / Parquet rows with the contract's field names; positions are rows."""
        df = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        df = _conform(df)
        n = df.height
        line_nos = first_row + np.arange(n, dtype=np.int64)
        rows = np.arange(n, dtype=np.int64)
        return self._finish(df, rows, None, line_nos, [])

    # -- the two paths ----------------------------------------------------------
    def _slow_path(
        self, lines: list[bytes], line_nos: np.ndarray, quarantined: list[Quarantined]
    ) -> tuple[pl.DataFrame, np.ndarray]:
        good: list[int] = []
        for i, raw in enumerate(lines):
            obj, reason = parse_line(raw)
            if obj is not None:
                reason = type_reason(obj)
            if reason:
                quarantined.append(Quarantined(int(line_nos[i]), raw, reason))
            else:
                good.append(i)
        try:
            return _read(b"\n".join(lines[i] for i in good)), np.asarray(good, dtype=np.int64)
        except Exception:  # belt and braces: whatever polars still refuses, line by line
            frames, kept = [], []
            for i in good:
                try:
                    frames.append(_read(lines[i]))
                    kept.append(i)
                except Exception as exc:
                    reason = f"cannot be decoded ({str(exc).splitlines()[0][:120]})"
                    quarantined.append(Quarantined(int(line_nos[i]), lines[i], reason))
            frame = pl.concat(frames) if frames else _empty_frame()
            return frame, np.asarray(kept, dtype=np.int64)

    def _finish(
        self,
        df: pl.DataFrame,
        rows: np.ndarray,
        lines: LazyLines | None,
        line_nos: np.ndarray,
        quarantined: list[Quarantined],
    ) -> DecodedBatch:
        records = len(line_nos)
        if df.height == 0:
            return DecodedBatch(_empty_frame(), _sorted(quarantined), records)
        df = df.with_columns(
            pos=pl.Series(line_nos[rows]),
            ts_ms=parse_ts_column(df["ts"]),
            _row=pl.Series(rows),
        )
        df = df.with_columns(_reason=self._reasons(df))
        df = self._money(df)
        bad = df.filter(pl.col("_reason").is_not_null())
        raws = _raws(lines, bad)
        for (pos, reason), raw in zip(bad.select("pos", "_reason").iter_rows(), raws, strict=True):
            quarantined.append(Quarantined(pos, raw, reason))
        ok = df.filter(pl.col("_reason").is_null())
        sku_changes: list[dict[str, Any]] = []
        is_change = ok["type"] == "sku_change"
        if is_change.any():
            ok, sku_changes = self._sku_changes(ok, is_change, lines, quarantined)
        frame = self.normalise(ok)
        return DecodedBatch(frame, _sorted(quarantined), records, sku_changes)

    def _reasons(self, df: pl.DataFrame) -> pl.Series:
        """Each row's first broken rule (null if none), worked out only for the rows that
        break one: `when(broken).then(reason)` made a string column per rule."""
        # lazily: the optimiser computes each record type's test once for all its
        # rules (common subexpressions), where the eager call evaluated it per rule
        broken = df.lazy().select(self._any_broken).collect().to_series()
        none = pl.Series("_reason", dtype=pl.String).extend_constant(None, df.height)
        rows = broken.arg_true()
        if len(rows) == 0:
            return none
        reasons = df[rows].lazy().select(self._rules).collect().to_series()
        return none.scatter(rows, reasons)

    # -- rules ------------------------------------------------------------------
    def _rule_checks(self) -> list[tuple[pl.Expr, pl.Expr]]:
        """Every rule of EVENTS.md as (broken, reason), in the order reasons are given."""
        t = pl.col("type")
        checks: list[tuple[pl.Expr, pl.Expr]] = [
            _rule(t.is_null(), pl.lit("missing field type")),
            _rule(~t.is_in(RECORD_TYPES), pl.format('unknown record type "{}"', t)),
            _rule(pl.col("id").is_null(), pl.lit("missing field id")),
            _rule(
                ~pl.col("id").str.len_chars().is_between(1, ID_MAX_LEN),
                pl.lit(f"id must be a string of 1 to {ID_MAX_LEN} characters"),
            ),
            _rule(pl.col("ts").is_null(), pl.lit("missing field ts")),
            _rule(
                pl.col("ts_ms").is_null(),
                pl.lit("ts cannot be read as epoch milliseconds or RFC 3339"),
            ),
        ]
        for rtype in RECORD_TYPES:
            is_t = t == rtype
            for name in REQUIRED[rtype]:
                if name in SCHEMA:
                    checks.append(
                        _rule(
                            is_t & pl.col(name).is_null(), pl.lit(f"missing field {rtype}.{name}")
                        )
                    )
            for name, kind in FIELDS[rtype].items():
                if kind == "id" and name in SCHEMA:
                    checks.append(
                        _rule(
                            is_t & ~pl.col(name).str.len_chars().is_between(1, ID_MAX_LEN),
                            pl.lit(f"{rtype}.{name} must be a string of 1 to 128 characters"),
                        )
                    )
            for name in (n for (rt, n) in NON_EMPTY if rt == rtype):
                checks.append(
                    _rule(
                        is_t & (pl.col(name) == ""),
                        pl.lit(f"{rtype}.{name} must be a non-empty string"),
                    )
                )
            for (rt, name), values in ENUMS.items():
                if rt == rtype:
                    checks.append(
                        _rule(
                            is_t & ~pl.col(name).is_in(values),
                            pl.lit(f"{rtype}.{name} must be {one_of(values)}"),
                        )
                    )
            if rtype in PATTERN_TYPES:
                for name, (pattern, words) in PATTERNS.items():
                    checks.append(
                        _rule(
                            is_t & ~pl.col(name).str.contains(pattern),
                            pl.lit(f"{rtype}.{name} must be {words}"),
                        )
                    )
        for (rtype, name), least in MINIMUM.items():
            reason = f"{rtype}.{name} must be an integer >= {least}"
            checks.append(_rule((t == rtype) & (pl.col(name) < least), pl.lit(reason)))
        checks += [
            _rule(
                (t == "order")
                & pl.col("sku_attrs").is_not_null()
                & (
                    ~pl.col("sku_attrs").str.contains(r"^\{")
                    | pl.col("sku_attrs").str.contains(r'":\s*[^"\s]')  # a value not a string
                ),
                pl.lit("order.sku_attrs must be an object of strings"),
            ),
        ]
        for rtype, name in MONEY_FIELD.items():
            checks.append(
                _rule(
                    (t == rtype) & (pl.col(name) < 0),
                    pl.lit(f"{rtype}.{name} must not be negative"),
                )
            )
        has_money = t.is_in(tuple(MONEY_FIELD))
        checks.append(
            _rule(
                has_money & ~pl.col("currency").is_in(tuple(self._digits)),
                pl.format("unknown currency code {}", pl.col("currency")),
            )
        )
        return checks

    def _money(self, df: pl.DataFrame) -> pl.DataFrame:
        """Adds value_minor (own currency) and value_base; flags values with extra digits."""
        t = df["type"]
        priced = (t.is_in(tuple(MONEY_FIELD)) & df["_reason"].is_null()).to_numpy()
        n = df.height
        value_minor = np.zeros(n, dtype=np.int64)
        value_base = np.zeros(n, dtype=np.int64)
        if priced.any():
            idx = np.flatnonzero(priced)
            sub = df.select("unit_price", "amount", "currency", "quantity", "type")[idx]
            x = sub.select(pl.coalesce("unit_price", "amount")).to_series().to_numpy()
            # the rules refused unknown codes, so every priced row's code is in the Enum
            cur = sub["currency"].cast(self._codes_enum).to_physical().to_numpy()
            digits = self._code_digits[cur]
            minor, exact = money.to_minor(x.astype(np.float64), digits)
            qty = sub["quantity"].fill_null(1).to_numpy()
            is_order = (sub["type"] == "order").to_numpy()
            # price x quantity is exact only below 2**53 minor units (and int64 would wrap)
            fits = ~is_order | (np.abs(minor.astype(np.float64)) * qty < money.EXACT_LIMIT)
            minor = np.where(is_order & fits, minor * np.where(fits, qty, 1), minor)
            ok = np.flatnonzero(exact & fits)
            value_minor[idx[ok]] = minor[ok]
            value_base[idx[ok]] = money.to_base(minor[ok], cur[ok], self._codes, self.rates)
            if len(ok) < len(idx):
                reasons: list[str | None] = [None] * n
                types = sub["type"].to_numpy()
                for j in np.flatnonzero(~exact):
                    reasons[idx[j]] = (
                        f"{MONEY_FIELD[types[j]]} has more minor digits than "
                        f"{self._codes[cur[j]]} allows ({digits[j]})"
                    )
                for j in np.flatnonzero(exact & ~fits):
                    reasons[idx[j]] = ORDER_TOO_LARGE
                df = df.with_columns(
                    _reason=pl.coalesce(pl.col("_reason"), pl.Series(reasons, dtype=pl.String))
                )
        return df.with_columns(value_minor=value_minor, value_base=value_base)

    def _sku_changes(
        self,
        ok: pl.DataFrame,
        is_change: pl.Series,
        lines: LazyLines | None,
        quarantined: list[Quarantined],
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """sku_change records carry nested objects: check them line by line."""
        parsed: list[dict[str, Any]] = []
        drop_pos: set[int] = set()
        changes = ok.filter(is_change)
        # columnar input: each row as a dict, all at once (a filter per row was quadratic)
        records = changes.to_dicts() if lines is None else []
        raws = _raws(lines, changes, records)
        for i, (pos, raw) in enumerate(zip(changes["pos"].to_list(), raws, strict=True)):
            if lines is not None:
                obj, reason = parse_line(raw)
            else:
                obj = _present({k: v for k, v in records[i].items() if k[0] != "_"})
                reason = None
            if obj is not None:
                reason = type_reason(obj) or self._sku_value_reason(obj)
            if reason or obj is None:
                drop_pos.add(pos)
                quarantined.append(Quarantined(pos, raw, reason or "sku_change unreadable"))
            else:
                obj["pos"] = pos
                parsed.append(obj)
        if drop_pos:
            ok = ok.filter(~pl.col("pos").is_in(list(drop_pos)))
        return ok, parsed

    def _sku_value_reason(self, obj: dict[str, Any]) -> str | None:
        for side in ("before", "after"):
            state = obj.get(side)
            if not isinstance(state, dict):
                continue
            price, code = state.get("price"), state.get("currency")
            if price is not None and price < 0:
                return f"sku_change.{side}.price must not be negative"
            if code is not None and code not in self._digits:
                return f"unknown currency code {code}"
            if price is not None and code is not None:
                _, exact = money.to_minor(
                    np.asarray([float(price)]), np.asarray([self._digits[code]])
                )
                if not exact[0]:
                    return f"price has more minor digits than {code} allows ({self._digits[code]})"
        return None

    # -- normalised output ------------------------------------------------------
    def normalise(self, ok: pl.DataFrame) -> pl.DataFrame:
        """The columns every consumer reads; ids hashed to u64 for dedup and joins."""
        return ok.select(
            pl.col("pos"),
            pl.col("type").replace_strict(KIND_CODE, return_dtype=pl.UInt8).alias("kind"),
            pl.col("ts_ms").alias("ts"),
            *_HASHES,
            *_PASSED,
            pl.col("value_minor"),
            pl.col("value_base"),
        )


def _read(data: bytes) -> pl.DataFrame:
    return pl.read_ndjson(io.BytesIO(data), schema=SCHEMA)


def _conform(df: pl.DataFrame) -> pl.DataFrame:
    """Columnar input to the NDJSON frame's schema (missing fields become nulls)."""
    cols = []
    for name, dtype in SCHEMA.items():
        if name not in df.columns:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
        elif name == "sku_attrs" and df.schema[name] != pl.String:
            cols.append(pl.col(name).struct.json_encode().alias(name))
        else:
            cols.append(pl.col(name).cast(dtype, strict=False).alias(name))
    extra = [c for c in ("before", "after") if c in df.columns]
    return df.select(*cols, *extra)


_DERIVED = frozenset(("pos", "ts_ms", "value_minor", "value_base"))  # not in the input


def _raws(
    lines: LazyLines | None, rows: pl.DataFrame, records: list[dict[str, Any]] | None = None
) -> list[bytes]:
    """The raw bytes of each row of `rows` (which holds `_row`): its input line, or, for
    columnar input, which has no bytes, the row as canonical JSON (from `records`, the
    rows as dicts, when the caller has them)."""
    if lines is not None:
        return [lines[row] for row in rows["_row"].to_list()]
    import json

    return [
        json.dumps(
            _present({k: v for k, v in rec.items() if k[0] != "_" and k not in _DERIVED}),
            default=str,
        ).encode()
        for rec in (records if records is not None else rows.to_dicts())
    ]


def _present(record: dict[str, Any]) -> dict[str, Any]:
    """A columnar row without its null fields, nested ones too: a struct column has every
    field in every row, so null is how Arrow and Parquet say a field is absent (a
    `before` without a price was quarantined as "price must be a number")."""
    return {
        k: _present(v) if isinstance(v, dict) else v for k, v in record.items() if v is not None
    }


def _sorted(items: list[Quarantined]) -> list[Quarantined]:
    return sorted(items, key=lambda q: q.line)


_EMPTY: pl.DataFrame | None = None


def _empty_frame() -> pl.DataFrame:
    global _EMPTY
    if _EMPTY is None:
        base = (
            pl.DataFrame(schema=SCHEMA)
            .with_columns(
                pos=pl.lit(0, pl.Int64),
                ts_ms=pl.lit(0, pl.Int64),
                value_minor=pl.lit(0, pl.Int64),
                value_base=pl.lit(0, pl.Int64),
            )
            .clear()
        )
        _EMPTY = Decoder.normalise(None, base)  # type: ignore[arg-type]
    return _EMPTY
