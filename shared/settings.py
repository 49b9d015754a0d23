"""Settings every service shares. Each service subclasses `ServiceSettings` with its own fields.

Nothing outside a settings class reads `os.environ`: every knob is declared here or in a
service's `settings.py`, with a description and a default.
"""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_", extra="ignore")

    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/",
        description="RabbitMQ URL, including the virtual host (the path).",
    )
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/sendpool",
        description="PostgreSQL URL. Every service owns one schema in this database.",
    )
    log_level: str = Field("INFO", description="Log level for the service's structured logs.")
    message_metrics: bool = Field(
        True,
        description=(
            "FastStream's per-message Prometheus metrics (received, processed, durations, sizes, published) "
            "on `/metrics`. They cost throughput on every message (see docs/benchmarks.md); the services' own "
            "metrics (outcomes, routing decisions) stay either way."
        ),
    )
    log_json: bool = Field(
        False, description="Emit logs as JSON lines (for log collectors) instead of console text."
    )
    token_secret: str = Field(
        "dev-only-token-secret-change-me",
        description="HMAC key that signs API tokens; every service that checks tokens needs the same one.",
        repr=False,
    )
    operator_token: str = Field(
        "dev-operator-token",
        description="Bearer token of the operator (admin) role.",
        repr=False,
    )
    catalog_rpc_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long to wait for the catalog to answer a request (snapshot, policy, server settings).",
    )
    verp_secret: str = Field(
        "dev-only-verp-secret-change-me",
        description="HMAC key that signs the VERP token in each message's Return-Path; the delivery workers "
        "and the bounces service need the same one, so a bounce can be traced to its message and not forged.",
        repr=False,
    )
    db_pool_size: int = Field(10, description="Maximum PostgreSQL connections per process.")
    prefetch: int = Field(
        200, description="RabbitMQ prefetch per consumer: how many messages are in flight at once."
    )
    transient_retry_seconds: float = Field(
        600.0,
        ge=0,
        description=(
            "How long a message whose handling fails because a dependency is unreachable (PostgreSQL or "
            "RabbitMQ down, connection refused or reset, a time-out) is retried inside its consumer "
            "(0.5 s doubling to 30 s) before it is requeued like any failure, towards sendpool.dead. "
            "Counted from the outage's start; the waits do not spend the message's delivery limit. "
            "0 turns the waiting off. Keep it below RabbitMQ's consumer timeout (30 min by default): "
            "the message stays unacknowledged meanwhile."
        ),
    )
    startup_database_wait_seconds: float = Field(
        300.0,
        ge=0,
        description="How long a starting service waits for PostgreSQL to accept connections (retrying with "
        "a growing pause) before it gives up and exits.",
    )
