"""The router's settings: `SENDPOOL_ROUTER_<KNOB>`, beside the shared `SENDPOOL_<KNOB>` ones."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ApiAuthSettings, ServiceSettings


class RouterSettings(ApiAuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_ROUTER_")

    seed: int | None = Field(
        None, description="Seed for the weighted pick; set only to make a test or a dry run repeatable."
    )
    outbox_poll_seconds: float = Field(
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
    queue_metrics_interval_seconds: float = Field(
        15.0,
        gt=0,
        description="How often a router reads every server's delivery queue (messages, consumers), "
        "sendpool.dead and the servers' headroom under their limits for its metrics: one passive queue "
        "declaration per server and one query of the send counters per round.",
    )
    catalog_snapshot_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long to wait for the catalog to answer a snapshot request (at startup, and when "
        "routing or a dry run re-reads the catalog before deciding that no server can send); a request "
        "that times out is asked again.",
    )
    catalog_policy_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long to wait for the catalog to answer a campaign's sending policy (the first "
        "message of a campaign a replica routes, and dry runs).",
    )
