"""Settings of the bounces service (environment variables `SENDPOOL_BOUNCES_*`, and the shared `SENDPOOL_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class BouncesSettings(ServiceSettings):
    # SENDPOOL_VERP_SECRET (VerpSettings) comes with DSN intake, the first thing here that reads a token.
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_BOUNCES_")

    counter_batch_size: int = Field(
        500,
        ge=1,
        description=(
            "Status messages (batches of events, or single events) whose events are counted in one database "
            "write: one is written once this many wait, or after 20 ms."
        ),
    )
    status_prefetch: int = Field(
        50,
        ge=1,
        description=(
            "Messages of `bounces.status` in hand at once, each a status batch of up to 1000 events: those "
            "in hand at the same moment share a write; it bounds the memory a backlog takes."
        ),
    )
