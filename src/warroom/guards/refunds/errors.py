"""Errors of the refund guard."""

from warroom.errors import WarroomError


class RefundError(WarroomError):
    """Base of the refund guard's errors."""


class PolicyError(RefundError):
    """A refund policy file breaks a rule (the message names the file, field and rule)."""


class ReviewError(RefundError):
    """A review action that cannot be applied (unknown refund, already decided)."""
