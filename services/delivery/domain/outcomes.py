"""What became of one attempt to hand a message to a sending server.

Every vendor adapter returns one of these values instead of raising, so the delivery use case
decides in one place what each means: record it, publish a status, retry later or give up.
Their texts come from the receiving server and are made safe to keep as the value is made
(`reply_text`), so no adapter can hand over a reply that the attempts record would refuse.
"""

from dataclasses import dataclass

from services.delivery.domain.reply_text import VENDOR_ID_LIMIT, safe_optional, safe_text


def _keep_safely(outcome: object, field: str, limit: int | None = None) -> None:
    # Frozen dataclasses: the cleaned value replaces the raw one once, while the value is made.
    value = getattr(outcome, field)
    object.__setattr__(outcome, field, safe_text(value) if limit is None else safe_optional(value, limit))


@dataclass(frozen=True)
class Sent:
    """The server accepted the message; it is now the server's to deliver."""

    vendor_message_id: str | None
    reply_code: int | None
    reply_text: str

    def __post_init__(self) -> None:
        _keep_safely(self, "reply_text")
        _keep_safely(self, "vendor_message_id", VENDOR_ID_LIMIT)


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
    maybe_delivered: bool = False
    """The connection was lost after the message was transmitted, before the server's reply. The
    server never said it took the message, so it is tried again (as Postfix does); but it may have
    kept it, so if a later attempt ends, the message is reported `unknown`: it may be there twice."""

    def __post_init__(self) -> None:
        _keep_safely(self, "reply_text")


@dataclass(frozen=True)
class Failed:
    """Refused for good (5xx): sending it again would be refused again."""

    reply_code: int | None
    enhanced_code: str | None
    reply_text: str

    def __post_init__(self) -> None:
        _keep_safely(self, "reply_text")


@dataclass(frozen=True)
class Unknown:
    """The message was handed over but no answer came (an API call that timed out, a sendmail that
    never finished): it may or may not have been accepted.

    Such a message must not be sent again without a person deciding so, or a recipient may get it
    twice. (An SMTP connection lost after DATA is `Deferred` with `maybe_delivered` instead: SMTP
    says a message is the receiver's only once it answered, so it is tried again.)
    """

    reason: str

    def __post_init__(self) -> None:
        _keep_safely(self, "reason")


SendOutcome = Sent | Deferred | Failed | Unknown


def trace_attributes(outcome: SendOutcome) -> dict[str, str | int]:
    """What a span of the attempt says about its outcome (`shared.tracing`): its kind and the
    server's reply code; never the reply's text."""
    attributes: dict[str, str | int] = {"sendpool.outcome": type(outcome).__name__.lower()}
    reply_code = getattr(outcome, "reply_code", None)
    if reply_code is not None:
        attributes["sendpool.reply_code"] = reply_code
    return attributes
