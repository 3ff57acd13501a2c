"""The rules of EVENTS.md, as data: record types, their fields, enumerations, patterns.

Both the vectorised fast path (decode.py) and the per-line slow path (slowpath.py)
read these tables, so a rule is written once.
"""

from __future__ import annotations

from typing import Final, Literal

FieldKind = Literal["str", "id", "int", "money", "bool", "ts", "attrs", "sku_state"]

RECORD_TYPES: Final = ("order", "payment", "refund", "shipment", "sku_change", "visit")
KIND_CODE: Final = {name: code for code, name in enumerate(RECORD_TYPES)}

COMMON: Final[dict[str, FieldKind]] = {"type": "str", "id": "id", "ts": "ts"}

# field -> kind, per record type; REQUIRED lists the mandatory ones.
FIELDS: Final[dict[str, dict[str, FieldKind]]] = {
    "order": {
        "order_id": "id",
        "user_id": "id",
        "merchant_id": "id",
        "item_id": "id",
        "sku_id": "id",
        "category": "str",
        "region": "str",
        "country": "str",
        "channel": "str",
        "quantity": "int",
        "unit_price": "money",
        "currency": "str",
        "campaign": "str",
        "sku_attrs": "attrs",
        "device_id": "str",
        "address_id": "str",
    },
    "payment": {
        "order_id": "id",
        "user_id": "id",
        "status": "str",
        "method": "str",
        "amount": "money",
        "currency": "str",
        "latency_ms": "int",
        "error": "str",
    },
    "refund": {
        "refund_id": "id",
        "order_id": "id",
        "user_id": "id",
        "merchant_id": "id",
        "amount": "money",
        "currency": "str",
        "reason": "str",
        "return_shipped": "bool",
        "device_id": "str",
        "address_id": "str",
    },
    "shipment": {"order_id": "id", "merchant_id": "id", "status": "str", "carrier": "str"},
    "sku_change": {
        "merchant_id": "id",
        "item_id": "id",
        "sku_id": "id",
        "actor": "str",
        "before": "sku_state",
        "after": "sku_state",
    },
    "visit": {
        "user_id": "id",
        "region": "str",
        "country": "str",
        "channel": "str",
        "page": "str",
        "item_id": "str",
    },
}

REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "order": (
        "order_id",
        "user_id",
        "merchant_id",
        "item_id",
        "sku_id",
        "category",
        "region",
        "country",
        "channel",
        "quantity",
        "unit_price",
        "currency",
    ),
    "payment": ("order_id", "user_id", "status", "method", "amount", "currency"),
    "refund": ("refund_id", "order_id", "user_id", "merchant_id", "amount", "currency", "reason"),
    "shipment": ("order_id", "merchant_id", "status"),
    "sku_change": ("merchant_id", "item_id", "sku_id", "actor", "after"),
    "visit": ("user_id", "region", "country", "channel", "page"),
}

ENUMS: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("order", "channel"): ("app", "web", "mini", "other"),
    ("visit", "channel"): ("app", "web", "mini", "other"),
    ("payment", "status"): ("succeeded", "failed"),
    ("refund", "reason"): (
        "not_as_described",
        "wrong_size",
        "wrong_color",
        "damaged",
        "not_received",
        "changed_mind",
        "other",
    ),
    ("shipment", "status"): ("shipped", "delivered", "returned"),
    ("visit", "page"): ("home", "search", "item", "cart", "checkout"),
}

REGION_PATTERN: Final = r"^[A-Z]{2}-[A-Z0-9]{1,3}$"
COUNTRY_PATTERN: Final = r"^[A-Z]{2}$"
CURRENCY_PATTERN: Final = r"^[A-Z]{3}$"
PATTERNS: Final[dict[str, tuple[str, str]]] = {
    "region": (REGION_PATTERN, "an ISO 3166-2 code like CN-ZJ"),
    "country": (COUNTRY_PATTERN, "an ISO 3166-1 alpha-2 code like CN"),
}
# The record types whose region and country must have those shapes.
PATTERN_TYPES: Final = ("order", "visit")
# Integer fields with a lower bound: (record type, field) -> least value.
MINIMUM: Final[dict[tuple[str, str], int]] = {
    ("order", "quantity"): 1,
    ("payment", "latency_ms"): 0,
}
# Non-empty free-text fields (the schema's minLength 1).
NON_EMPTY: Final = {("order", "category"), ("payment", "method"), ("sku_change", "actor")}

ID_MAX_LEN: Final = 128
MONEY_FIELD: Final = {"order": "unit_price", "payment": "amount", "refund": "amount"}

KIND_WORDS: Final[dict[FieldKind, str]] = {
    "str": "a string",
    "id": "a string of 1 to 128 characters",
    "int": "an integer",
    "money": "a number",
    "bool": "true or false",
    "ts": "epoch milliseconds or RFC 3339",
    "attrs": "an object of strings",
    "sku_state": "an object with attrs",
}


def one_of(values: tuple[str, ...]) -> str:
    """'a, b or c' — the way a reason names an enumeration."""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
