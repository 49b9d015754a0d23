"""What the catalog's use cases need from the outside world, declared here and implemented in adapters/."""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from services.catalog.domain.access import Actor
from services.catalog.domain.fleet_status import ServerStatus
from services.catalog.domain.identity_checks import DnsAnswer, DnsQuestion
from services.catalog.domain.servers import Server
from services.catalog.domain.tokens import TokenRecord
from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    PlanView,
    ProbeRequest,
    ProbeResult,
    SendingPolicy,
    ServerReputation,
    ServerState,
    TenantView,
)


@dataclass(frozen=True)
class ServerScope:
    """The servers a tenant may see: its own, and the pool servers in `granted`."""

    tenant_id: UUID
    granted: frozenset[UUID]


@dataclass(frozen=True)
class ServerQuery:
    """One page of a server listing: text in the name or host, states and types (any of), oldest first."""

    text: str | None = None
    states: tuple[ServerState, ...] = ()
    types: tuple[str, ...] = ()
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class SealedSecrets:
    """A server's encrypted secrets: its connection settings' and its DKIM key (if it signs)."""

    settings: str
    dkim_key: str | None


class TokenRecords(Protocol):
    """The tenants' API tokens (what each says and whether it was revoked; never the token)."""

    async def get(self, token_id: str, *, lock: bool = False) -> TokenRecord | None: ...
    async def of_tenant(self, tenant_id: UUID, *, limit: int, offset: int) -> list[TokenRecord]:
        """Newest first."""

    async def save(self, token: TokenRecord) -> None:
        """Insert the token, or record its revocation (nothing else of a token ever changes)."""

    async def revoked_unexpired(self) -> list[TokenRecord]: ...


class CatalogTransaction(Protocol):
    """Reads and writes inside one database transaction; events recorded here commit with the change."""

    @property
    def tokens(self) -> TokenRecords: ...

    async def get_tenant(self, tenant_id: UUID, *, lock: bool = False) -> TenantView | None: ...
    async def list_tenants(self) -> list[TenantView]: ...
    async def save_tenant(self, tenant: TenantView) -> None: ...

    async def get_plan(self, plan_id: UUID) -> PlanView | None: ...
    async def list_plans(self) -> list[PlanView]: ...
    async def save_plan(self, plan: PlanView) -> None: ...

    async def get_server(self, server_id: UUID, *, lock: bool = False) -> Server | None: ...
    async def get_servers(
        self, server_ids: Sequence[UUID], *, share_lock: bool = False
    ) -> dict[UUID, Server]:
        """The servers of these ids that exist; `share_lock` keeps them from being deleted until commit."""

    async def list_servers(self) -> list[Server]: ...
    async def list_servers_of(self, tenant_id: UUID, *, also: Sequence[UUID] = ()) -> list[Server]:
        """The tenant's own servers and the servers in `also`."""

    async def find_servers(self, scope: ServerScope | None, query: ServerQuery) -> tuple[list[Server], int]:
        """One page of the servers in `scope` (None: every server) that match, and how many match in all."""

    async def count_servers_of(self, tenant_id: UUID) -> int: ...
    async def save_reputation(self, server_id: UUID, reputation: ServerReputation) -> bool:
        """Keep the bounces service's report unless a newer one is kept; False: not kept (no such server,
        or older than the one kept). No event: a report is a measurement, not a change of the server."""

    async def add_server(self, server: Server) -> None: ...
    async def update_server(self, server: Server) -> None: ...
    async def delete_server(self, server_id: UUID) -> None:
        """Delete the server with its sealed secrets; the plans that granted it grant it no more."""

    async def plans_granting(self, server_id: UUID) -> list[UUID]:
        """The plans that grant the server, oldest first."""

    async def sealed_secrets(self) -> dict[UUID, SealedSecrets]:
        """Every server's encrypted secrets, locked until the transaction ends."""

    async def replace_sealed_secrets(self, sealed: dict[UUID, SealedSecrets]) -> None: ...

    async def get_policy(self, campaign_id: UUID) -> SendingPolicy | None: ...
    async def narrowed_policies_of(self, tenant_id: UUID) -> list[SendingPolicy]:
        """The tenant's campaign policies that use a selection rather than every server."""

    async def save_policy(self, policy: SendingPolicy) -> SendingPolicy | None:
        """Insert or replace, numbering the version; None when another tenant owns the campaign's policy."""

    async def record_event(self, kind: CatalogEventKind, **subject: Any) -> int:
        """Append a CatalogEvent about `subject` (server=, plan=, tenant=, policy=, token=) to the outbox."""

    async def last_event_id(self) -> int: ...


class CatalogStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[CatalogTransaction]: ...

    def consistent_read(self) -> AbstractAsyncContextManager[CatalogTransaction]:
        """A read-only view in which every table and the outbox are seen at one instant."""


class SecretBox(Protocol):
    """Encrypts server secrets at rest; the sealed form is opaque text."""

    def seal(self, secrets: dict[str, str]) -> str: ...
    def open(self, sealed: str) -> dict[str, str]: ...
    def reseal(self, sealed: str) -> str:
        """The same secrets encrypted with the current key (for key rotation)."""


class DnsLookup(Protocol):
    async def answers(self, questions: Sequence[DnsQuestion]) -> dict[DnsQuestion, DnsAnswer]:
        """Every question answered, all within one bounded wait: a lookup without an answer in time
        (or refused, or SERVFAIL) is answered UNCHECKED, never as a missing record."""


class IdentityGate(Protocol):
    """What enabling a server asks of identity verification (`SENDPOOL_CATALOG_REQUIRE_VERIFIED_IDENTITY`)."""

    @property
    def required(self) -> bool: ...

    async def verify_before_enable(self, actor: Actor, server_id: UUID) -> None:
        """Re-check the identity of a server about to be enabled and record the outcome (nothing
        when verification is not required)."""


class Prober(Protocol):
    async def probe(self, vendor: str, request: ProbeRequest) -> ProbeResult:
        """Ask the vendor's delivery worker to test a connection; a worker that does not answer is a failure."""


@dataclass(frozen=True)
class UnreadableEvent:
    """A row of the outbox whose payload does not read as a `CatalogEvent` (written by another version,
    or changed by hand): it cannot be published, and must not hold up the events after it."""

    event_id: int
    kind: str
    problem: str


class PendingEvents(Protocol):
    """A batch of unpublished events, in order, claimed by this replica."""

    @property
    def events(self) -> Sequence[CatalogEvent | UnreadableEvent]: ...

    def park(self, event_id: int, reason: str) -> None:
        """Set the event aside with `reason` instead of marking it published, when the batch ends."""


class OutboxSource(Protocol):
    def pending(self, limit: int) -> AbstractAsyncContextManager[PendingEvents]:
        """Unpublished (and unparked) events in order, held by this replica alone (none if another
        replica is relaying); when the block exits without an error, the events parked are parked and
        every other one is marked published."""

    async def wait_for_new(self, timeout: float) -> None:
        """Return when an event may have been recorded, or after `timeout` seconds."""

    async def prune(self, older_than: timedelta, limit: int) -> int:
        """Delete up to `limit` events, oldest first, published more than `older_than` ago; the newest
        published event always stays (a snapshot's `last_event_id` is read from it). Returns how many."""


class Unpublishable(Exception):
    """The event can never be published as it is (too large for the broker, say): retrying is no use."""


class EventPublisher(Protocol):
    async def publish(self, event: CatalogEvent) -> None:
        """Publish `event`; `Unpublishable` if it never can be, any other error if it cannot now."""


class OutboxMetrics(Protocol):
    def event_parked(self, kind: str) -> None: ...


class ServerStatuses(Protocol):
    async def server_statuses(self) -> list[ServerStatus]:
        """Every server's state and pause, in one cheap read."""
        ...


class FleetStatusMetrics(Protocol):
    def show(self, statuses: Sequence[ServerStatus]) -> None:
        """Report these servers' states and pauses, and no others any more."""
        ...
