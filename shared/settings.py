"""Settings every service shares. Each service subclasses `ServiceSettings` with its own fields.

Nothing outside a settings class reads `os.environ`: every knob is declared here or in a
service's `settings.py`, with a description and a default (a secret has none).

Names: a knob only one service reads is `SENDPOOL_<SERVICE>_<KNOB>` (the service's settings class
sets `env_prefix`); a knob every service reads is `SENDPOOL_<KNOB>` and lives in `ServiceSettings`;
a knob a few services must agree on (a signing key) is `SENDPOOL_<KNOB>` in a mixin those services
take. Durations end in `_SECONDS` (or `_HOURS`).
"""

import os
import uuid
from typing import Any

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RENAMED_VARIABLES: dict[str, str] = {
    "SENDPOOL_VENDOR": "SENDPOOL_DELIVERY_VENDOR",
    "SENDPOOL_SMTP_MAX_CONNECTIONS": "SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS",
    "SENDPOOL_SMTP_TIMEOUT_SECONDS": "SENDPOOL_DELIVERY_SMTP_TIMEOUT_SECONDS",
    "SENDPOOL_SMTP_HELO_HOSTNAME": "SENDPOOL_DELIVERY_SMTP_HELO_HOSTNAME",
    "SENDPOOL_CIRCUIT_FAILURE_THRESHOLD": "SENDPOOL_DELIVERY_CIRCUIT_FAILURE_THRESHOLD",
    "SENDPOOL_CIRCUIT_COOLDOWN_SECONDS": "SENDPOOL_DELIVERY_CIRCUIT_COOLDOWN_SECONDS",
    "SENDPOOL_CATALOG_RPC_TIMEOUT_SECONDS": (
        "SENDPOOL_ROUTER_CATALOG_SNAPSHOT_TIMEOUT_SECONDS, SENDPOOL_ROUTER_CATALOG_POLICY_TIMEOUT_SECONDS, "
        "SENDPOOL_DELIVERY_CATALOG_SNAPSHOT_TIMEOUT_SECONDS, SENDPOOL_DELIVERY_SERVER_SETTINGS_TIMEOUT_SECONDS "
        "and SENDPOOL_DELIVERY_ADMISSION_TIMEOUT_SECONDS (one per request)"
    ),
    "SENDPOOL_ROUTING_SEED": "SENDPOOL_ROUTER_SEED",
    "SENDPOOL_HELD_SWEEP_SECONDS": "SENDPOOL_ROUTER_HELD_SWEEP_SECONDS",
    "SENDPOOL_CAPACITY_CLEANUP_SECONDS": "SENDPOOL_ROUTER_CAPACITY_CLEANUP_SECONDS",
    "SENDPOOL_EXPAND_BATCH_SIZE": "SENDPOOL_SCHEDULER_EXPAND_BATCH_SIZE",
    "SENDPOOL_EXPANSION_RETRY_SECONDS": "SENDPOOL_SCHEDULER_EXPANSION_RETRY_SECONDS",
    "SENDPOOL_EXPANSION_LEASE_SECONDS": "SENDPOOL_SCHEDULER_EXPANSION_LEASE_SECONDS",
    "SENDPOOL_EXPANSION_SWEEP_SECONDS": "SENDPOOL_SCHEDULER_EXPANSION_SWEEP_SECONDS",
    "SENDPOOL_STATUS_BATCH_SIZE": "SENDPOOL_SCHEDULER_STATUS_BATCH_SIZE",
    "SENDPOOL_STATUS_BATCH_WAIT": "SENDPOOL_SCHEDULER_STATUS_BATCH_WAIT_SECONDS",
    "SENDPOOL_STALE_AFTER_SECONDS": "SENDPOOL_SCHEDULER_STALE_AFTER_SECONDS",
    "SENDPOOL_STALE_ROUTED_AFTER_SECONDS": "SENDPOOL_SCHEDULER_STALE_ROUTED_AFTER_SECONDS",
    "SENDPOOL_STALE_SWEEP_SECONDS": "SENDPOOL_SCHEDULER_STALE_SWEEP_SECONDS",
    "SENDPOOL_COUNTER_BATCH_SIZE": "SENDPOOL_BOUNCES_COUNTER_BATCH_SIZE",
}
"""Variables earlier versions read, and what replaced them. A service refuses to start while one is
set: ignoring it would run the service with a default its operator meant to change."""


def shared_name(name: str) -> Any:
    """The alias of a knob several services read under one name, whatever their own prefix is."""
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    # Subclasses set env_prefix="SENDPOOL_<SERVICE>_"; the knobs below keep their shared names
    # through their aliases. Python code (tests, the harness) passes fields by name.
    # A malformed value is never echoed in the error: some are secrets.
    model_config = SettingsConfigDict(
        env_prefix="SENDPOOL_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=shared_name("SENDPOOL_AMQP_URL"),
        description="RabbitMQ URL, including the virtual host (the path).",
    )
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/sendpool",
        validation_alias=shared_name("SENDPOOL_DATABASE_URL"),
        description="PostgreSQL URL. Every service owns one schema in this database.",
    )
    log_level: str = Field(
        "INFO",
        validation_alias=shared_name("SENDPOOL_LOG_LEVEL"),
        description="Log level for the service's structured logs.",
    )
    log_json: bool = Field(
        False,
        validation_alias=shared_name("SENDPOOL_LOG_JSON"),
        description="Emit logs as JSON lines (for log collectors) instead of console text.",
    )
    message_metrics: bool = Field(
        True,
        validation_alias=shared_name("SENDPOOL_MESSAGE_METRICS"),
        description=(
            "FastStream's per-message Prometheus metrics (received, processed, durations, sizes, published) "
            "on `/metrics`. They cost throughput on every message (see docs/benchmarks.md); the services' own "
            "metrics (outcomes, routing decisions) stay either way."
        ),
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        validation_alias=shared_name("SENDPOOL_DB_POOL_SIZE"),
        description="Maximum PostgreSQL connections per process.",
    )
    prefetch: int = Field(
        200,
        ge=1,
        validation_alias=shared_name("SENDPOOL_PREFETCH"),
        description="RabbitMQ prefetch per consumer: how many messages are in flight at once.",
    )
    batch_prefetch: int = Field(
        4,
        ge=1,
        validation_alias=shared_name("SENDPOOL_BATCH_PREFETCH"),
        description=(
            "RabbitMQ prefetch of the consumers of batches of recipients (the router's send queue, the "
            "servers' queues): how many batches, each of up to a few hundred recipients, are in hand at once."
        ),
    )
    transient_retry_seconds: float = Field(
        600.0,
        ge=0,
        validation_alias=shared_name("SENDPOOL_TRANSIENT_RETRY_SECONDS"),
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
        validation_alias=shared_name("SENDPOOL_STARTUP_DATABASE_WAIT_SECONDS"),
        description="How long a starting service waits for PostgreSQL to accept connections (retrying with "
        "a growing pause) before it gives up and exits.",
    )
    instance_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        pattern=r"^[A-Za-z0-9_.<>-]{1,64}$",
        validation_alias=shared_name("SENDPOOL_INSTANCE_ID"),
        description="Names this process's own queues and leases; unique per replica. By default a random "
        "id per start (set it to the pod's name to find a replica's queues by it).",
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed_variables(cls, values: Any) -> Any:
        renamed = {old: new for old, new in RENAMED_VARIABLES.items() if old in os.environ}
        if renamed:
            raise ValueError(
                "renamed settings are still set: "
                + "; ".join(f"{old} is now {new}" for old, new in sorted(renamed.items()))
            )
        return values


class ApiAuthSettings(BaseSettings):
    """The keys of the HTTP APIs' tokens, which every service serving an API must share."""

    token_secret: str = Field(
        "dev-only-token-secret-change-me",
        validation_alias=shared_name("SENDPOOL_TOKEN_SECRET"),
        description="HMAC key that signs API tokens; every service that checks tokens needs the same one.",
        repr=False,
    )
    operator_token: str = Field(
        "dev-operator-token",
        validation_alias=shared_name("SENDPOOL_OPERATOR_TOKEN"),
        description="Bearer token of the operator (admin) role.",
        repr=False,
    )


class VerpSettings(BaseSettings):
    """The key of the VERP tokens, which the delivery workers and the bounces service must share."""

    verp_secret: str = Field(
        "dev-only-verp-secret-change-me",
        validation_alias=shared_name("SENDPOOL_VERP_SECRET"),
        description="HMAC key that signs the VERP token in each message's Return-Path; the delivery workers "
        "and the bounces service need the same one, so a bounce can be traced to its message and not forged.",
        repr=False,
    )
