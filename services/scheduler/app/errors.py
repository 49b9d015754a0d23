"""Failures a use case reports to its caller, which decides how to show them (an HTTP status, a log line)."""


class NotFound(Exception):
    """The thing does not exist, or belongs to another tenant (which the caller must not learn)."""

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier} not found")
