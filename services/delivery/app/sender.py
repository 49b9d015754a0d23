"""The interface every vendor adapter implements (SMTP today; SES, SendGrid, Mailgun, ... later).

A sender belongs to one server and keeps whatever it reuses between messages (a pool of SMTP
connections, an HTTP client). It reports every delivery problem as a `SendOutcome` value and
raises only for bugs, so the use case alone decides what an outcome means for the message.
"""

from typing import Any, Protocol

from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import SendOutcome
from shared.contracts import ProbeResult


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> SendOutcome: ...

    async def probe(self) -> ProbeResult:
        """Connect and authenticate as a real send would, then hang up; the message says why it failed."""
        ...

    async def close(self) -> None:
        """Release connections; sends already under way finish first."""
        ...


class UnusableServer(Exception):
    """A server's settings cannot make a sender (an unknown type, a missing field): no retry will fix that."""


class SenderFactory(Protocol):
    def __call__(self, server_type: str, settings: dict[str, Any]) -> Sender:
        """A sender for a server of `server_type`; raises `UnusableServer` saying what is wrong with `settings`."""
        ...
