"""What the delivery use cases need from the world, and the errors those parts may raise.

Adapters implement the outward ones (the catalog, the routers, the attempts record, the broker,
the vendors' senders, metrics); the use cases implement the others for each other (the fleet
gates sends, the health watch counts their outcomes), so each can be tested with the rest faked.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.delivery.app.campaign_holds import CampaignHold
from services.delivery.domain.attempts import AttemptRecord, ClaimResult
from services.delivery.domain.identity import SenderIdentity
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import SendOutcome
from shared.contracts import (
    AdmissionReply,
    AdmissionRequest,
    CatalogSnapshot,
    DeliveryRequested,
    MessageStatus,
    ProbeResult,
    SendRequested,
    ServerConnectionSettings,
    ServerHealthEvent,
    ServerSettingsReply,
    StatusEvent,
)
from shared.transient import TransientFault

# --------------------------------------------------------------------------- the catalog


class CatalogUnavailable(Exception):
    """The catalog did not answer in time; asking again later may work."""


class CatalogUnreachable(CatalogUnavailable, TransientFault):
    """No answer in time, or the request could not be delivered: the catalog is down or restarting.

    A transient fault, so the consumer waits it out with the message in hand instead of spending
    the message's delivery limit on a catalog outage (`shared.transient`)."""

    fault = "catalog"


class Catalog(Protocol):
    async def snapshot(self) -> CatalogSnapshot: ...

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        """Settings with secrets in clear; raises `UnusableServer` when the catalog has none for the server."""
        ...


# --------------------------------------------------------------------------- senders


class Sender(Protocol):
    """What every vendor adapter implements (SMTP, SES, SendGrid, ...) for one server.

    A sender keeps whatever it reuses between messages (a pool of SMTP connections, an HTTP
    client). It reports every delivery problem as a `SendOutcome` value and raises only for
    bugs, so the use case alone decides what an outcome means for the message.
    """

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
    def __call__(self, server_type: str, settings: ServerConnectionSettings) -> Sender:
        """A sender for a server of `server_type`; raises `UnusableServer` saying what is wrong with `settings`."""
        ...


@dataclass(frozen=True)
class ServerSender:
    """What sends through one server: its sender, and who its messages are from (None: unsigned)."""

    sender: Sender
    identity: SenderIdentity | None


class SenderLookup(Protocol):
    async def sender_for(self, server_id: UUID) -> ServerSender:
        """Raises `UnusableServer`, or `CatalogUnavailable` when the server's settings cannot be fetched."""
        ...


# --------------------------------------------------------------------------- records and messages out


class AttemptStore(Protocol):
    async def claim(self, message_id: UUID, server_id: UUID, attempt: int) -> ClaimResult:
        """Record `sending` for the message unless its record forbids it (already sent, being sent,
        or deferred at a later attempt). Returns the claim, else the record in the way."""
        ...

    async def record(self, record: AttemptRecord) -> None:
        """Return once `record` is durable: until then its message may be sent again by whoever
        finds the claim. Raises only when it could not be written at all."""
        ...


class Outbound(Protocol):
    async def publish_status(self, event: StatusEvent) -> None: ...

    async def retry_later(self, send: SendRequested, wait_seconds: float) -> float:
        """Send the message back through routing after at least `wait_seconds`; returns the actual wait."""
        ...

    async def hand_back(self, send: SendRequested) -> None:
        """Send the message back through routing now."""
        ...


class CampaignGate(Protocol):
    def hold_of(self, campaign_id: UUID) -> CampaignHold | None:
        """Whether the campaign's messages must not be sent now (paused, cancelled), as known here."""
        ...


class HealthPublisher(Protocol):
    async def publish_health(self, event: ServerHealthEvent) -> None: ...


# --------------------------------------------------------------------------- servers' queues and limits


class ServerQueues(Protocol):
    async def consume(self, vendor: str, server_id: UUID) -> None:
        """Start consuming the server's queue; does nothing if it is consumed already."""
        ...

    async def stop(self, server_id: UUID) -> None:
        """Stop consuming the server's queue; messages being handled are finished first."""
        ...


class ServerGate(Protocol):
    def refusal(self, server_id: UUID) -> str | None:
        """Why messages must not be sent through the server now, or None if they may."""
        ...


class CircuitSwitch(Protocol):
    """Where an open circuit takes effect: the queues this worker consumes."""

    async def circuit_opened(self, server_id: UUID, reason: str) -> None: ...

    async def circuit_closed(self, server_id: UUID) -> None: ...

    def serves(self, server_id: UUID) -> bool: ...


class ConnectionHealth(Protocol):
    def observe(self, server_id: UUID, outcome: SendOutcome) -> None:
        """Count what a send through the server came to, for its circuit breaker."""
        ...


class AdmissionUnavailable(Exception):
    """No router answered; the message keeps waiting and the worker asks again."""


class Admissions(Protocol):
    async def admit(self, request: AdmissionRequest) -> AdmissionReply:
        """Raises `AdmissionUnavailable` when no router answers."""
        ...


class ServerCapacity(Protocol):
    async def wait_for_capacity(self, request: DeliveryRequested) -> bool:
        """Return when the message may go out now under its server's limits: whether it had to wait."""
        ...


# --------------------------------------------------------------------------- suppression


class SuppressionList(Protocol):
    async def suppressed(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        """The addresses among `addresses` that may not be mailed for the tenant, with why.

        Raises a transient fault (`shared.suppression.SuppressionUnavailable`) when the bounces
        service does not answer: never "nothing suppressed"."""
        ...


# --------------------------------------------------------------------------- metrics


class DeliveryMetrics(Protocol):
    def send_took(self, vendor: str, seconds: float) -> None:
        """How long handing one message to a server took."""
        ...

    def concluded(self, vendor: str, server_id: UUID, status: MessageStatus) -> None:
        """An attempt's outcome was recorded: sent, deferred, failed, unknown or suppressed."""
        ...

    def batch_taken(self, server_id: UUID, routed_at: datetime) -> None:
        """A batch routed at `routed_at` was taken from the server's queue: how long it waited there,
        and (while a backlog lasts) how old the oldest message still queued is."""
        ...


class CircuitMetrics(Protocol):
    """Which servers' circuits are open, for monitoring."""

    def circuit_opened(self, server_id: UUID) -> None: ...

    def circuit_closed(self, server_id: UUID) -> None: ...

    def circuit_forgotten(self, server_id: UUID) -> None:
        """The server is no longer served here: nothing more to report about it."""
        ...

    def background_task_failed(self, task: str) -> None:
        """A background task (`task` names which) hit an error; it goes on after a pause."""
        ...
