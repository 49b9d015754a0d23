from pydantic import Field

from shared.settings import ServiceSettings


class BouncesSettings(ServiceSettings):
    counter_batch_size: int = Field(
        500, description="Status events folded into the counters per database write."
    )
