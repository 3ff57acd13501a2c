"""Roles and the permissions they grant; routes declare a permission, never a role."""

from __future__ import annotations

from typing import Final, Literal

Permission = Literal["read", "acknowledge", "approve", "broadcast", "admin", "ingest"]

_READ: Final = frozenset({"read"})
ROLES: Final[dict[str, frozenset[str]]] = {
    "viewer": _READ,
    "watcher": _READ | {"acknowledge"},
    "commander": _READ | {"acknowledge", "approve", "broadcast"},
    "admin": _READ | {"acknowledge", "approve", "broadcast", "admin"},
    "ingest": frozenset({"ingest"}),  # a machine that only pushes records
}
PERMISSIONS: Final = ("read", "acknowledge", "approve", "broadcast", "admin", "ingest")


def allows(role: str, permission: str) -> bool:
    return permission in ROLES.get(role, frozenset())
