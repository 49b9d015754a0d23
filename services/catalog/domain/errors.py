"""What can go wrong in the catalog, in terms a caller can act on; entrypoints map these to HTTP statuses."""

from dataclasses import dataclass


class CatalogError(Exception):
    """Base of the catalog's refusals; the message is written for the person who made the request."""


class NotFound(CatalogError):
    """The thing does not exist, or the caller may not know that it exists."""


class Forbidden(CatalogError):
    """The caller knows the thing but its role or plan does not allow this."""


class Conflict(CatalogError):
    """The request is valid but the thing's current state refuses it."""


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    message: str


class InvalidInput(CatalogError):
    """One or more fields of the request are wrong; each error names its field.

    `location` is the part of the request the fields are in: the body, or the query string."""

    def __init__(self, *errors: FieldError, location: str = "body") -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.message}" for e in errors))
        self.errors = errors
        self.location = location
