"""What the events service's use cases need from the outside world."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.events.domain.cursor import Position
from shared.events import Event, EventBatch

Envelope = dict[str, Any]
"""An event as it is kept in the log (and was published): `Event` in JSON."""


class EventLog(Protocol):
    async def append(self, events: Sequence[Event]) -> set[UUID]:
        """Log the events not logged yet, in one statement; the ids of those that were new."""
        ...

    async def message_events(self, message_id: UUID, tenant_id: UUID | None, limit: int) -> list[Envelope]:
        """The message's events in `occurred_at` order (`tenant_id` None: any tenant's)."""
        ...

    async def campaign_events(
        self,
        campaign_id: UUID,
        tenant_id: UUID | None,
        *,
        recipient: str | None,
        event_type: str | None,
        after: Position | None,
        limit: int,
    ) -> list[tuple[Position, Envelope]]:
        """The campaign's events after `after`, in (`occurred_at`, `event_id`) order."""
        ...

    async def campaign_known(self, campaign_id: UUID, tenant_id: UUID | None) -> bool:
        """Whether any event of the campaign (of this tenant) is logged."""
        ...

    async def prune(self, older_than: datetime, batch_size: int) -> int:
        """Delete at most `batch_size` events that occurred before `older_than`; how many were."""
        ...


class EventPublisher(Protocol):
    async def publish(self, batch: EventBatch) -> None:
        """Publish on `sendpool.events` and wait for the broker's confirm."""
        ...
