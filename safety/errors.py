"""Domain errors that services raise and routes turn into messages or status codes."""

from __future__ import annotations

from datetime import timedelta

#: What the same person sends again this soon is that act again, not another (a double tap on a
#: slow tablet, a double click): answered with the first one's outcome, never refused as done.
SAME_ACT_WINDOW = timedelta(minutes=1)


class DomainError(Exception):
    """A use case refused: `message` is for the user, `errors` maps fields to messages."""

    status_code = 400

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(DomainError):
    """The object does not exist or is outside the actor's scope (never confirm which)."""

    status_code = 404

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    """The actor may see the object but not do this to it."""

    status_code = 403


class Conflict(DomainError):
    """The object is in a state that refuses this action (e.g. already signed)."""

    status_code = 409


class RecordedRefusal(DomainError):
    """A refusal whose record of the attempt must stay: the caller commits, not rolls back.

    A wrong password at signing counts towards the sign-in throttle and is audited; rolling
    that back would give a guesser unlimited tries through the signing form.
    """
