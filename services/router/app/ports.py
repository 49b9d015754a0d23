"""What the router's use cases need from the world, and the words they say it in.

The adapters (`services.router.adapters`) implement these; tests stand in for them.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from services.router.domain.limits import Bucket, Window
from shared.contracts import (
    CampaignEvent,
    CatalogSnapshot,
    DeliveryRequested,
    SendingPolicy,
    SendRequested,
    StatusEvent,
)


class CatalogSource(Protocol):
    async def policy(self, campaign_id: UUID, tenant_id: UUID) -> SendingPolicy: ...
    async def snapshot(self) -> CatalogSnapshot: ...


class Outbound(Protocol):
    """Where routed, waiting and returned messages go. Each call is about one message and returns
    once the broker confirmed it; the adapter may carry what many calls hand it at once in one
    batch message, so the recipients of a batch routed together travel together."""

    async def to_server(self, vendor: str, server_id: UUID, message: DeliveryRequested) -> None: ...
    async def status(self, event: StatusEvent) -> None: ...
    async def back_to_routing(self, message: SendRequested) -> None: ...
    async def release(self, messages: list[SendRequested]) -> None:
        """Send held messages back to routing together (as few batch messages as they fit in);
        returns once the broker confirmed every one."""
        ...

    async def wait(self, message: SendRequested, seconds: float) -> float:
        """Put the message in a delay queue that ends by `seconds`; returns how long it waits there."""
        ...


@dataclass(frozen=True)
class HoldOutcome:
    recorded_stop: bool
    """This call recorded the campaign's stop first (and announced `campaign_stopped`)."""
    held: bool
    """The message is held (and `held` announced); False if the stop was lifted meanwhile."""
    cancelled: bool = False
    """The campaign is cancelled: nothing was recorded or held, the message is to be dropped."""


Release = Callable[[list[SendRequested]], Awaitable[None]]
"""Sends a batch of held messages back to routing; returns once the broker confirmed them all."""


class HeldMessages(Protocol):
    async def stopped_campaigns(self) -> set[UUID]: ...
    async def stop_and_hold(
        self, message: SendRequested, reason: str, stopped: CampaignEvent, held: StatusEvent
    ) -> HoldOutcome:
        """Record the stop and hold the message, with their announcements, in one transaction."""
        ...

    async def hold(self, message: SendRequested, held: StatusEvent) -> bool:
        """Keep the message with its stopped campaign and announce `held`, in one transaction;
        False, holding nothing, if it was resumed."""
        ...

    async def resume(self, campaign_id: UUID, release: Release) -> int:
        """Lift the stop: from now on nothing is held for the campaign; hand the held messages to
        `release` a batch at a time (deleting each batch once released), then forget the stop.
        Repeatable after a crash at any point."""
        ...

    async def orphaned_campaigns(self) -> list[UUID]:
        """Campaigns that have held messages but are not stopped (any more)."""
        ...

    async def release_orphans(self, campaign_id: UUID, release: Release) -> int:
        """Release the campaign's held messages unless it is stopped (again); never lifts a stop.
        Those of a cancelled campaign are dropped instead, each reported `cancelled`."""
        ...

    async def campaign_controls(self, cancelled_since: datetime) -> tuple[set[UUID], set[UUID]]:
        """(paused now, cancelled since `cancelled_since`), as the tenant's decisions were recorded."""
        ...

    async def is_cancelled(self, campaign_id: UUID) -> bool: ...

    async def pause(self, event: CampaignEvent) -> bool:
        """Record the pause and stop the campaign (announcing nothing); False if a newer decision
        is recorded or the campaign is cancelled."""
        ...

    async def record_resume(self, event: CampaignEvent) -> bool:
        """Record the resume; False if the campaign is cancelled or a newer pause is recorded."""
        ...

    async def cancel(self, event: CampaignEvent) -> int:
        """Record the cancellation, lift any stop, and drop the held messages (each reported
        `cancelled`, in the transaction that deletes it); returns how many were dropped."""
        ...


class CapacityStore(Protocol):
    """The send counters every replica shares."""

    async def claim(self, bucket: Bucket, want: int) -> tuple[int, datetime | None]: ...
    async def give_back(self, bucket: Bucket, windows: tuple[Window, ...], count: int) -> None: ...


class RoomReader(Protocol):
    async def remaining(self, bucket: Bucket) -> dict[str, int]:
        """Room left in each of the bucket's windows now, claiming none."""
        ...


class Decision(StrEnum):
    """What routing did with one message, each time it came through."""

    ROUTED = "routed"
    HELD = "held"
    WAITING = "waiting"
    """Every eligible server was at its cap: it waits in a delay queue and comes back."""
    REROUTED = "rerouted"
    """Drained from the queue of a server that cannot send, back through routing."""
    ADMITTED_LATE = "admitted_late"
    """A counted message reached its worker late; its count moved to the time it is sent."""
    LATE_AT_CAP = "late_at_cap"
    """A late message's server is at its cap now: its worker waits before sending it."""
    CANCELLED = "cancelled"
    """Its campaign was cancelled: dropped unrouted, reported `cancelled`."""


class RoutingMetrics(Protocol):
    def decided(self, decision: Decision, server_id: UUID | None = None) -> None:
        """Count one decision; `server_id` is the server a routed message went to."""
        ...


@dataclass(frozen=True)
class QueueDepth:
    """A queue's messages ready to deliver and its consumers, as RabbitMQ counts them now."""

    messages: int
    consumers: int


NO_QUEUE = QueueDepth(messages=0, consumers=0)
"""A queue that does not exist (yet): nothing routed to its server so far."""


class QueueStats(Protocol):
    async def depths(self, queues: list[str]) -> dict[str, QueueDepth]:
        """Each queue's depth now; a queue that does not exist (yet) is empty, with no consumer."""
        ...


class UsedCapacity(Protocol):
    async def used(self, buckets: Sequence[Bucket]) -> dict[str, dict[str, int]]:
        """What each window of each bucket has used now, by bucket key and window kind."""
        ...


@dataclass(frozen=True)
class ServerLoad:
    """One server's queue and what its limits still allow (`headroom` empty: not active)."""

    server_id: UUID
    vendor: str
    queue: QueueDepth
    headroom: dict[str, int]


class FleetGauges(Protocol):
    def show(self, servers: list[ServerLoad], dead_letters: int) -> None:
        """Report these servers (and no others any more) and the messages in sendpool.dead."""
        ...
