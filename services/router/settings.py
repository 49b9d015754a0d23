from pydantic import Field

from shared.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    routing_seed: int | None = Field(
        None, description="Seed for the weighted pick; set only to make a test or a dry run repeatable."
    )
