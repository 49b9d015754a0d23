"""The interfaces the webhooks use cases depend on; `services/webhooks/adapters` implements them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.webhooks.domain.endpoints import Endpoint
from services.webhooks.domain.payloads import StoredEvent
from shared.events import Event


@dataclass(frozen=True)
class NewEndpoint:
    id: UUID
    tenant_id: UUID
    url: str
    description: str
    event_types: list[str] | None
    secret_sealed: str


class TooManyEndpoints(Exception):
    """The tenant has its maximum of endpoints already."""


class TooManyEvents(Exception):
    """A replay window holds more events than one replay may queue."""

    def __init__(self, found: int) -> None:
        super().__init__(found)
        self.found = found


class EndpointStore(Protocol):
    """A tenant's endpoints, their delivery log and their replays (`PgWebhookStore`). Every method
    takes the tenant: another tenant's endpoint is never found (None)."""

    async def create(self, endpoint: NewEndpoint, *, max_per_tenant: int) -> Endpoint:
        """Raises `TooManyEndpoints` when the tenant has `max_per_tenant` already."""
        ...

    async def get(self, tenant_id: UUID, endpoint_id: UUID) -> Endpoint | None: ...

    async def of_tenant(self, tenant_id: UUID) -> list[Endpoint]: ...

    async def update(self, tenant_id: UUID, endpoint_id: UUID, changes: dict[str, Any]) -> Endpoint | None:
        """`changes` by column: url, description, event_types, enabled (enabling clears the failures)."""
        ...

    async def delete(self, tenant_id: UUID, endpoint_id: UUID) -> bool: ...

    async def has_endpoints(self, tenant_id: UUID) -> bool:
        """Whether the tenant has at least one endpoint, enabled or not."""
        ...

    async def tenants_with_endpoints(self) -> list[UUID]:
        """Every tenant that has at least one endpoint, enabled or not."""
        ...

    async def rotate_secret(
        self, tenant_id: UUID, endpoint_id: UUID, secret_sealed: str, previous_until: datetime
    ) -> Endpoint | None:
        """The new secret signs from now on; the current one becomes the previous, until `previous_until`."""
        ...

    async def deliveries(
        self, tenant_id: UUID, endpoint_id: UUID, *, before: int | None, limit: int
    ) -> list[dict[str, Any]] | None:
        """The endpoint's requests, newest first, those with an id below `before`; None: no such endpoint."""
        ...

    async def replay(
        self, tenant_id: UUID, endpoint_id: UUID, start: datetime, end: datetime, *, max_events: int
    ) -> int | None:
        """Queue again for the endpoint every kept event of its types that occurred in [start, end);
        returns how many; None: no such endpoint. Raises `TooManyEvents` past `max_events`."""
        ...


@dataclass(frozen=True)
class Claimed:
    """An endpoint taken for one request (leased: no other request to it until it is recorded)."""

    id: UUID
    tenant_id: UUID
    url: str
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_until: datetime | None
    failures: int
    failing_since: datetime | None


@dataclass(frozen=True)
class Attempt:
    """One request as the delivery log records it."""

    attempted_at: datetime
    webhook_id: str
    event_ids: tuple[UUID, ...]
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryQueue(Protocol):
    """The events and each endpoint's pending ones (`PgWebhookStore`)."""

    async def ingest(self, events: Sequence[Event]) -> int:
        """Keep the events of tenants with endpoints, and queue each for every enabled endpoint of its
        tenant that wants its type, once: an event already kept queues nothing again. Returns how many
        deliveries were queued."""
        ...

    async def claim(self, limit: int, *, tenant_cap: int, lease_seconds: float) -> list[Claimed]:
        """Up to `limit` due endpoints with events pending, served longest ago first, at most
        `tenant_cap` in flight per tenant, each leased for `lease_seconds`."""
        ...

    async def due_events(self, endpoint_id: UUID, limit: int) -> list[StoredEvent]:
        """The endpoint's oldest pending events, `limit` at most."""
        ...

    async def delivered(self, endpoint_id: UUID, attempt: Attempt) -> None:
        """Log the attempt, drop its events from the pending ones, clear the failures and the lease."""
        ...

    async def failed(
        self, endpoint_id: UUID, attempt: Attempt, *, next_attempt_at: datetime, disable_reason: str | None
    ) -> None:
        """Log the attempt, count the failure, set the next try, disable the endpoint if a reason is given."""
        ...

    async def release(self, endpoint_id: UUID) -> None:
        """Give the lease back without a request (nothing was pending after all)."""
        ...

    async def prune(self, *, events_before: datetime, log_before: datetime) -> tuple[int, int]:
        """Delete events received before `events_before` and log entries before `log_before`."""
        ...


class StreamSubscriptions(Protocol):
    """Which tenants' events of the public stream reach the webhooks service (`RabbitStreamSubscriptions`):
    only those followed, so that the events of tenants without endpoints cost nothing here. Each
    call is idempotent."""

    async def follow(self, tenant_id: UUID) -> None:
        """The tenant's events published from now on reach the service. Raises
        `shared.errors.DependencyUnavailable` when that cannot be arranged (the broker is unreachable)."""
        ...

    async def unfollow(self, tenant_id: UUID) -> None:
        """The tenant's events stop reaching the service."""
        ...

    async def stop_following_everything(self) -> None:
        """Drop the catch-all subscription to the whole stream that earlier versions held (nothing if
        there is none); the tenants followed stay followed."""
        ...


class SecretBox(Protocol):
    """Signing secrets encrypted at rest (`FernetSecretBox`)."""

    def seal(self, secret: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class DestinationCheck(Protocol):
    """Whether the platform's egress policy lets requests go to a host and port (`EgressDestinationCheck`)."""

    async def refusal(self, host: str, port: int) -> str | None:
        """Why requests to `host`:`port` would be refused (in the tenant's words), or None."""
        ...


@dataclass(frozen=True)
class Response:
    status_code: int | None
    """None: no answer (time-out, connection error, refused by the egress policy)."""
    error: str | None
    duration_ms: int


class WebhookClient(Protocol):
    """POSTs a signed payload to an endpoint under the egress policy (`HttpWebhookClient`)."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response: ...
