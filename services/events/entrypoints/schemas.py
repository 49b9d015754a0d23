"""What the events service's API answers (for its OpenAPI document; envelopes are returned as logged)."""

from uuid import UUID

from pydantic import BaseModel, Field

from shared.events import Event


class MessageTimelineOut(BaseModel):
    message_id: UUID
    events: list[Event] = Field(description="Every event of the message, in `occurred_at` order.")


class CampaignEventsPage(BaseModel):
    campaign_id: UUID
    events: list[Event] = Field(description="In (`occurred_at`, `event_id`) order.")
    next: str | None = Field(description="Pass as `after` for the next page; null on the last one.")
