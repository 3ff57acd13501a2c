"""One root exception for the package; subpackages add one-line subclasses."""


class WarroomError(Exception):
    """Base of every error warroom raises on purpose."""


class ContractError(WarroomError):
    """Input does not follow the event contract (a whole file or table, not one record)."""


class StateError(WarroomError):
    """The data directory holds state that cannot be resumed with this input."""
