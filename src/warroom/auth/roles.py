"""Roles and the permissions they grant; routes declare a permission, never a role."""

from __future__ import annotations

from typing import Final, Literal

Permission = Literal["read", "acknowledge", "approve", "broadcast", "admin", "ingest", "merchant"]

_READ: Final = frozenset({"read"})
ROLES: Final[dict[str, frozenset[str]]] = {
    "viewer": _READ,
    "watcher": _READ | {"acknowledge"},
    "commander": _READ | {"acknowledge", "approve", "broadcast"},
    "admin": _READ | {"acknowledge", "approve", "broadcast", "admin"},
    "ingest": frozenset({"ingest"}),  # a machine that only pushes records
    # a merchant's operator: its own notices only; the token names the merchant
    # (`TokenInfo.merchant_id`) and the merchant routes check it against each notice
    "merchant": frozenset({"merchant"}),
}
PERMISSIONS: Final = ("read", "acknowledge", "approve", "broadcast", "admin", "ingest", "merchant")
SCOPED_ROLES: Final = frozenset({"merchant"})  # roles whose tokens carry a merchant id


def allows(role: str, permission: str) -> bool:
    return permission in ROLES.get(role, frozenset())
