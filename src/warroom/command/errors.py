"""Errors of the command domain: one base, one line each."""

from warroom.errors import WarroomError


class CommandError(WarroomError):
    """Base of the command domain's errors."""


class NotFound(CommandError):
    """No such run, incident, message or outbox entry."""


class InvalidTransition(CommandError):
    """The run, step or incident is not in a state that allows this."""


class Forbidden(CommandError):
    """The actor may not do this (wrong role, or the two-person rule)."""


class PlanInvalid(CommandError):
    """A plan file breaks a rule; `warroom plans check` names file, line and rule."""
