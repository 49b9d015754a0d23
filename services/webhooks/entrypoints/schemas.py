"""The webhooks API's request and answer bodies; every field a caller fills is bounded."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.webhooks.domain.endpoints import MAX_DESCRIPTION_LENGTH, Endpoint
from shared.events import EventType

URL_FIELD_MAX = 8192
"""The form's own cap; the service's `SENDPOOL_WEBHOOKS_URL_MAX_LENGTH` is checked after it."""


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=URL_FIELD_MAX,
        description="An https URL on a public address (the platform's egress policy), no credentials.",
    )
    event_types: list[EventType] | None = Field(
        None,
        max_length=len(EventType),
        description="The event types sent to it; none (null): every type, those added later included.",
    )
    description: str = Field("", max_length=MAX_DESCRIPTION_LENGTH)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=URL_FIELD_MAX)
    event_types: list[EventType] | None = Field(
        None, max_length=len(EventType), description="Set to null for every type."
    )
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_LENGTH)
    enabled: bool | None = Field(
        None, description="false stops the requests; true starts them again, the failures forgotten."
    )


class EndpointOut(BaseModel):
    id: UUID
    url: str
    description: str
    event_types: list[str] | None = Field(description="null: every type.")
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why it was disabled (by its tenant, or after failing long)."
    )
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = Field(
        description="Its first failure since its last success; null: healthy."
    )
    next_attempt_at: datetime | None = Field(description="While failing: when it is tried again.")

    @classmethod
    def of(cls, endpoint: Endpoint) -> "EndpointOut":
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=endpoint.event_types,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
            failing_since=endpoint.failing_since,
            next_attempt_at=endpoint.next_attempt_at,
        )


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`), shown this once: verify each request's "
        "`webhook-signature` with it (Standard Webhooks)."
    )

    @classmethod
    def of_new(cls, endpoint: Endpoint) -> "EndpointWithSecretOut":
        assert endpoint.secret is not None
        return cls(**EndpointOut.of(endpoint).model_dump(), secret=endpoint.secret)


class EndpointList(BaseModel):
    items: list[EndpointOut]


class DeliveryOut(BaseModel):
    id: int
    attempted_at: datetime
    webhook_id: str = Field(description="The request's `webhook-id`: the event id, or `batch_…` for a batch.")
    event_ids: list[UUID]
    status_code: int | None = Field(description="The endpoint's HTTP status; null: no answer (see `error`).")
    error: str | None
    duration_ms: int
    succeeded: bool


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next: int | None = Field(
        description="Pass as `before` for the next (older) page; none: this is the last."
    )


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: datetime = Field(alias="from", description="The window's start (included), with a time zone.")
    end: datetime = Field(alias="to", description="The window's end (excluded), with a time zone.")


class ReplayOut(BaseModel):
    queued: int = Field(
        description="Events queued for the endpoint again (new requests, same event ids); events already "
        "waiting for it are not queued twice."
    )
