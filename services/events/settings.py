"""Settings of the events service (environment variables `SENDPOOL_EVENTS_*`, and the shared `SENDPOOL_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ApiAuthSettings, ServiceSettings


class EventsSettings(ApiAuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_EVENTS_")

    status_prefetch: int = Field(
        20,
        ge=1,
        le=1000,
        description="Messages of `events.status` in hand at once, each a status batch of up to 1000 events: "
        "each is logged in one statement and published again on `sendpool.events` before it is acked; it "
        "bounds the memory a backlog takes.",
    )
    retention_days: float = Field(
        30.0,
        gt=0,
        description="How long the event log keeps an event (by when it occurred): the per-message and "
        "per-campaign timelines of the API look back this far. Older events are deleted in batches.",
    )
    prune_seconds: float = Field(
        600.0,
        gt=0,
        description="How often events older than SENDPOOL_EVENTS_RETENTION_DAYS are deleted.",
    )
    prune_batch_size: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Events deleted by one statement of the pruner (it goes on until none is left): a "
        "short transaction each, so pruning a large backlog never holds locks for long.",
    )
