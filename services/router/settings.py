from pydantic import Field

from shared.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    routing_seed: int | None = Field(
        None, description="Seed for the weighted pick; set only to make a test or a dry run repeatable."
    )
    router_outbox_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the router's outbox relay (campaign_stopped and held events) looks for "
        "unpublished events when no NOTIFY woke it.",
    )
    held_sweep_seconds: float = Field(
        60.0,
        gt=0,
        description="How often a router looks for held messages whose campaign is no longer stopped (a "
        "resume that died half way) and sends them back to routing.",
    )
    capacity_cleanup_seconds: float = Field(
        3600.0,
        gt=0,
        description="How often a router deletes send counters older than two days (no limit looks back "
        "further than a day).",
    )
