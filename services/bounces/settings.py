"""Settings of the bounces service (environment variables `SENDPOOL_BOUNCES_*`, and the shared `SENDPOOL_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class BouncesSettings(ServiceSettings):
    # SENDPOOL_VERP_SECRET (VerpSettings) comes with DSN intake, the first thing here that reads a token.
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_BOUNCES_")

    counter_batch_size: int = Field(
        500, ge=1, description="Status events folded into the counters per database write."
    )
