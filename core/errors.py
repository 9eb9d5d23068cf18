"""Domain errors raised by services and selectors; views turn them into responses."""


class ApplicationError(Exception):
    """A user-facing failure of a use case. `message` is safe to show to the user."""

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class AccessDenied(ApplicationError):
    """The user is a member of the project but their role does not allow this."""


class NotFound(ApplicationError):
    """The object does not exist, or the user may not know that it does."""


class Conflict(ApplicationError):
    """The request is well formed, but the state of things refuses it now: already done by
    someone else, a name already taken, not ready yet. The API answers 409."""
