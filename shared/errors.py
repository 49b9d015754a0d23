"""The refusals every service's use cases raise, in terms a caller can act on.

Framework-free, so domain and app code raise them; `shared.http_errors` maps them to HTTP
statuses for all three APIs in one place. The message is written for the person who made the
request.
"""

from dataclasses import dataclass


class Refusal(Exception):
    """Base of the refusals; answered 400 unless a subclass says otherwise."""


class NotFound(Refusal):
    """The thing does not exist, or the caller may not know that it exists (404)."""


class Forbidden(Refusal):
    """The caller knows the thing but its role or plan does not allow this (403)."""


class Conflict(Refusal):
    """The request is valid but the thing's current state refuses it (409)."""


class DependencyUnavailable(Refusal):
    """Another service this request must consult did not answer; nothing was changed (503)."""


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    message: str


class InvalidInput(Refusal):
    """One or more fields of the request are wrong; each error names its field (422).

    `location` is the part of the request the fields are in: the body, or the query string."""

    def __init__(self, *errors: FieldError, location: str = "body") -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.message}" for e in errors))
        self.errors = errors
        self.location = location

    @classmethod
    def field(cls, name: str, message: str, *, location: str = "body") -> "InvalidInput":
        """One wrong field, by its name."""
        return cls(FieldError((name,), message), location=location)
