"""Per-line checks for the lines the fast path cannot take as a batch.

The fast path (decode.py) hands a batch to polars; when polars rejects it (bad JSON,
a value of the wrong JSON type) the batch's lines come here one at a time. This file
checks only what polars cannot see row by row: JSON syntax, that the line is an
object, and the JSON type of every known field. Value rules (enumerations, patterns,
ranges, currencies, digits) stay in decode.py, written once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from warroom.contract.rules import COMMON, FIELDS, KIND_WORDS, MINIMUM, FieldKind

_decoder = msgspec.json.Decoder()


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Decode one line; returns (object, None) or (None, reason)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8"
    try:
        value = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        return None, f"not valid JSON ({_json_detail(str(exc))})"
    if not isinstance(value, dict):
        return None, "a record must be a JSON object"
    return value, None


def type_reason(obj: dict[str, Any]) -> str | None:
    """The first field whose JSON type is wrong for its record type, as a reason."""
    rtype = obj.get("type")
    if not isinstance(rtype, str):
        return None if rtype is None else "type must be a string"
    for name, kind in COMMON.items():
        if name in obj and not _has_kind(obj[name], kind):
            return f"{name} must be {KIND_WORDS[kind]}"
    spec = FIELDS.get(rtype)
    if spec is None:
        return None  # the fast path names unknown types
    for name, kind in spec.items():
        if name not in obj:
            continue
        value = obj[name]
        if kind == "sku_state":
            reason = _sku_state_reason(value)
            if reason:
                return f"{rtype}.{name}{reason}"
        elif not _has_kind(value, kind):
            return f"{rtype}.{name} must be {_kind_words(rtype, name, kind)}"
    return None


def _kind_words(rtype: str, name: str, kind: FieldKind) -> str:
    if (rtype, name) in MINIMUM:
        return f"an integer >= {MINIMUM[rtype, name]}"
    return KIND_WORDS[kind]


def _has_kind(value: Any, kind: FieldKind) -> bool:
    if value is None:
        return False
    if kind in ("str", "id"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "money":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "ts":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    if kind == "attrs":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return False


def _sku_state_reason(value: Any) -> str | None:
    """'' suffix reason for a bad before/after object, or None when it is well formed."""
    if not isinstance(value, dict):
        return " must be an object with attrs"
    attrs = value.get("attrs")
    if attrs is None:
        return ".attrs is missing"
    if not _has_kind(attrs, "attrs"):
        return ".attrs must be an object of strings"
    if "price" in value and not _has_kind(value["price"], "money"):
        return ".price must be a number"
    if "currency" in value and not isinstance(value["currency"], str):
        return ".currency must be a string"
    return None


def _json_detail(message: str) -> str:
    if "truncated" in message.lower():
        return "truncated object"
    return message.split(" - at ")[0].rstrip(".").lower()
