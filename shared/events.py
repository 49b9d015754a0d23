"""The public status stream: one envelope for every event a tenant's systems may hear of.

Inside the platform, services tell each other about messages with `StatusBatch` and about campaigns
with `CampaignEvent`, on `sendpool.status`; those contracts change when the pipeline needs them to.
What a tenant's systems read is this envelope, version 1, on the exchange `sendpool.events`
(published by the events service, which translates every internal event once), and in webhooks.

Events travel in batches, as every message of the pipeline does: an `EventBatch` holds events of
one tenant, one campaign and one type, in the order they were decided, and is published with the
routing key `<tenant>.<campaign>.<type>` (so `<tenant>.#` is a tenant's whole stream, and
`*.*.bounced` every bounce). Delivery is at least once: `event_id` is the same for every copy of
one fact, so a consumer that has seen an id may drop the event.

`details` differs per type; its keys are listed in `DETAIL_KEYS` and in the AsyncAPI document.
A key whose value is not known is left out rather than sent as null. New keys and new types may
appear within version 1; a consumer ignores what it does not know.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid5

from pydantic import ConfigDict, Field

from shared.contracts import (
    MAX_BATCH_RECIPIENTS,
    CampaignEvent,
    CampaignEventKind,
    Contract,
    MessageStatus,
    StatusEvent,
    _grouped,
)

EVENTS_SCHEMA_VERSION = 1

EventType = StrEnum(  # type: ignore[misc]
    "EventType",
    [(status.name, status.value) for status in MessageStatus]
    + [(f"CAMPAIGN_{kind.name}", kind.value) for kind in CampaignEventKind],
)
"""Every event type: a message's states (`routed`, `sent`, `bounced`, …) and a campaign's (`campaign_…`)."""

MESSAGE_EVENT_TYPES = frozenset(status.value for status in MessageStatus)
CAMPAIGN_EVENT_TYPES = frozenset(kind.value for kind in CampaignEventKind)

_DELIVERY_OUTCOME = ("reply_code", "enhanced_code", "reply_text", "vendor_message_id")
DETAIL_KEYS: dict[str, tuple[str, ...]] = {
    MessageStatus.WAITING.value: ("run_id", "retry_at", "reason"),
    MessageStatus.ROUTED.value: ("run_id", "decision"),
    MessageStatus.HELD.value: ("run_id", "reason"),
    MessageStatus.SENT.value: ("run_id", *_DELIVERY_OUTCOME),
    MessageStatus.DEFERRED.value: ("run_id", *_DELIVERY_OUTCOME, "retry_at"),
    MessageStatus.FAILED.value: ("run_id", *_DELIVERY_OUTCOME),
    MessageStatus.UNKNOWN.value: ("run_id", *_DELIVERY_OUTCOME),
    MessageStatus.BOUNCED.value: ("run_id", "feedback_class", "enhanced_code", "reply_text"),
    MessageStatus.COMPLAINED.value: ("run_id", "feedback_class", "reply_text"),
    MessageStatus.SUPPRESSED.value: ("run_id", "reason"),
    MessageStatus.CANCELLED.value: ("run_id", "reason"),
    CampaignEventKind.SCHEDULED.value: ("send_at",),
    CampaignEventKind.STARTED.value: (),
    CampaignEventKind.STOPPED.value: ("reason", "servers"),
    CampaignEventKind.PAUSED.value: ("reason",),
    CampaignEventKind.RESUMED.value: (),
    CampaignEventKind.CANCELLED.value: ("reason",),
    CampaignEventKind.PROGRESS.value: ("progress",),
    CampaignEventKind.COMPLETED.value: (),
}
"""The keys `details` may hold, per event type."""

_STATUSES_WITH_REASON_IN_REPLY_TEXT = frozenset(
    {
        MessageStatus.WAITING,
        MessageStatus.HELD,
        MessageStatus.SUPPRESSED,
        MessageStatus.CANCELLED,
    }
)
"""Statuses whose `reply_text` is the platform's reason (no server replied): `details.reason`."""

_CAMPAIGN_EVENT_IDS = UUID("0d6c8f3e-2b7a-4f51-9c1e-6a2d5b8e4f70")


class Event(Contract):
    """One event of the public status stream (version 1)."""

    schema_version: Literal[1] = 1
    event_id: UUID = Field(description="The same for every copy of one fact: drop an id already seen.")
    type: EventType = Field(description="What happened; also the last word of the routing key.")
    occurred_at: datetime = Field(description="When the platform decided it (UTC).")
    tenant_id: UUID
    campaign_id: UUID
    message_id: UUID | None = Field(None, description="Message events: the message. Campaign events: null.")
    recipient: str | None = Field(None, description="Message events: the recipient's address.")
    server_id: UUID | None = Field(None, description="The sending server, once one was chosen.")
    vendor: str | None = Field(None, description="The sending server's type (`smtp`, `ses`, …).")
    attempt: int | None = Field(None, description="Message events: 1 for the first try, then 2, 3, …")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="What this type of event says besides; keys per type in `DETAIL_KEYS`.",
    )

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.campaign_id}.{self.type}"

    @property
    def is_message_event(self) -> bool:
        return self.type in MESSAGE_EVENT_TYPES


def details_table() -> str:
    """The keys `details` may hold per event type, as a Markdown table (for the AsyncAPI document)."""
    rows = [
        f"| `{event_type}` | {', '.join(f'`{key}`' for key in keys) or '(none)'} |"
        for event_type, keys in DETAIL_KEYS.items()
    ]
    return "\n".join(["| type | `details` keys |", "|---|---|", *rows])


def _describe_details(schema: dict[str, Any]) -> None:
    schema["description"] = f"{schema.get('description', '')}\n\n`details` per type:\n\n{details_table()}"


class EventBatch(Contract):
    """Published on `sendpool.events` with routing key `<tenant>.<campaign>.<type>`: events of one
    tenant, campaign and type, in the order they were decided (a campaign event travels alone)."""

    model_config = ConfigDict(json_schema_extra=_describe_details)
    schema_version: Literal[1] = 1
    tenant_id: UUID
    campaign_id: UUID
    type: EventType
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH_RECIPIENTS)

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.campaign_id}.{self.type}"

    @staticmethod
    def of(events: list[Event], *, max_size: int = MAX_BATCH_RECIPIENTS) -> list["EventBatch"]:
        """`events` in as few batches as they fit: one per tenant, campaign and type, `max_size` at most."""
        return [
            EventBatch(
                tenant_id=first.tenant_id, campaign_id=first.campaign_id, type=first.type, events=chunk
            )
            for first, chunk in _grouped(events, lambda e: (e.tenant_id, e.campaign_id, e.type), max_size)
        ]


def event_of_status(status: StatusEvent) -> Event:
    """The public envelope of an internal message status event (same id, same facts)."""
    source = status.model_dump(mode="json", exclude_none=True)
    if status.status in _STATUSES_WITH_REASON_IN_REPLY_TEXT and "reply_text" in source:
        source["reason"] = source.pop("reply_text")
    keys = DETAIL_KEYS[status.status.value]
    return Event(
        event_id=status.event_id,
        type=EventType(status.status.value),
        occurred_at=status.occurred_at,
        tenant_id=status.tenant_id,
        campaign_id=status.campaign_id,
        message_id=status.message_id,
        recipient=status.recipient,
        server_id=status.server_id,
        vendor=status.vendor,
        attempt=status.attempt,
        details={key: source[key] for key in keys if key in source},
    )


def event_of_campaign(event: CampaignEvent) -> Event:
    """The public envelope of a campaign decision. Its id is derived from what it says, so a copy of
    the decision (an outbox relay publishing again) carries the same id."""
    source = event.model_dump(mode="json", exclude_none=True)
    if not source.get("reason"):
        source.pop("reason", None)
    if not source.get("servers"):
        source.pop("servers", None)
    event_id = uuid5(
        _CAMPAIGN_EVENT_IDS, f"{event.campaign_id}/{event.kind.value}/{event.occurred_at.isoformat()}"
    )
    keys = DETAIL_KEYS[event.kind.value]
    return Event(
        event_id=event_id,
        type=EventType(event.kind.value),
        occurred_at=event.occurred_at,
        tenant_id=event.tenant_id,
        campaign_id=event.campaign_id,
        details={key: source[key] for key in keys if key in source},
    )
