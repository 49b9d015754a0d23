"""The API's reads of the event log: one message's timeline, a campaign's events (a tenant's own only)."""

from dataclasses import dataclass
from uuid import UUID

from services.events.app.ports import Envelope, EventLog
from services.events.domain.cursor import Position, encode_cursor
from services.events.domain.translation import search_address
from shared.errors import NotFound

MESSAGE_EVENTS_MAX = 1000
"""A message has a handful of events (routed, sent, one per retry, a bounce); this bounds a timeline."""


@dataclass(frozen=True)
class Page:
    events: list[Envelope]
    next: str | None
    """The cursor of the next page (`after=`), or None on the last one."""


class Timelines:
    def __init__(self, event_log: EventLog) -> None:
        self._log = event_log

    async def of_message(self, message_id: UUID, tenant_id: UUID | None) -> list[Envelope]:
        """`tenant_id` None: the operator's, any tenant's. Another tenant's message is not found."""
        events = await self._log.message_events(message_id, tenant_id, MESSAGE_EVENTS_MAX)
        if not events:
            raise NotFound(f"no events of message {message_id}")
        return events

    async def of_campaign(
        self,
        campaign_id: UUID,
        tenant_id: UUID | None,
        *,
        recipient: str | None = None,
        event_type: str | None = None,
        after: Position | None = None,
        limit: int,
    ) -> Page:
        # One more than asked, to know whether there is a next page without a second query.
        rows = await self._log.campaign_events(
            campaign_id,
            tenant_id,
            recipient=search_address(recipient),
            event_type=event_type,
            after=after,
            limit=limit + 1,
        )
        if not rows and after is None and not await self._log.campaign_known(campaign_id, tenant_id):
            # Another tenant's campaign (or none at all) looks the same: nothing says it exists.
            raise NotFound(f"no events of campaign {campaign_id}")
        page = rows[:limit]
        more = len(rows) > limit
        return Page([envelope for _, envelope in page], encode_cursor(page[-1][0]) if more else None)
