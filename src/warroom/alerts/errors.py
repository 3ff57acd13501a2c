"""Errors of the alerts package: each names the field and the rule it broke."""

from __future__ import annotations

from warroom.errors import WarroomError


class AlertsError(WarroomError):
    """Root of the alerts package's errors."""


class InvalidInput(AlertsError):
    """A matcher, silence or route setting is malformed."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field, self.rule = field, rule


class NotFound(AlertsError):
    """No alert or silence with that id."""
