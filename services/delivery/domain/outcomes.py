"""What became of one attempt to hand a message to a sending server.

Every vendor adapter returns one of these values instead of raising, so the delivery use case
decides in one place what each means: record it, publish a status, retry later or give up.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sent:
    """The server accepted the message; it is now the server's to deliver."""

    vendor_message_id: str | None
    reply_code: int | None
    reply_text: str


@dataclass(frozen=True)
class Deferred:
    """Not accepted this time, but it may be later (4xx, a connection that could not be opened)."""

    reply_code: int | None
    enhanced_code: str | None
    reply_text: str
    retry_after: float | None = None
    """Seconds the server asked us to wait, when it said so."""
    connection_failure: bool = False
    """The server could not be reached or would not let us send at all (no connection, TLS failed,
    credentials refused): the server's trouble, not the message's. Enough of these in a row open
    the server's circuit breaker."""


@dataclass(frozen=True)
class Failed:
    """Refused for good (5xx): sending it again would be refused again."""

    reply_code: int | None
    enhanced_code: str | None
    reply_text: str


@dataclass(frozen=True)
class Unknown:
    """The connection was lost after the message was transmitted: it may or may not have been accepted.

    Such a message must not be sent again without a person deciding so, or a recipient may get it twice.
    """

    reason: str


SendOutcome = Sent | Deferred | Failed | Unknown
