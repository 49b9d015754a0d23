"""Settings of the catalog service (environment variables `SENDPOOL_*`, catalog-only ones `SENDPOOL_CATALOG_*`)."""

import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.catalog.domain.access import TENANT_SERVERS_MAX
from shared.limits import CATALOG_EVENT_MAX_BYTES
from shared.settings import ApiAuthSettings, FernetKeys, ServiceSettings, secret_field

_HOST_NAME = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\.?$"
)

DEVELOPMENT_SECRET_KEY = "c2VuZHBvb2wtZGV2ZWxvcG1lbnQtbW9kZS1vbmx5ISE="
"""Public (base64 of `sendpool-development-mode-only!!`): what development mode encrypts with."""


class CatalogSettings(ApiAuthSettings, ServiceSettings):
    # A malformed setting must not print its value: here the values are encryption keys.
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_CATALOG_", hide_input_in_errors=True)

    secret_keys: FernetKeys = secret_field(
        dev_value=[DEVELOPMENT_SECRET_KEY],
        description=(
            "Comma-separated Fernet keys (urlsafe base64 of 32 bytes) that encrypt server secrets. "
            "The first key encrypts; every key decrypts, so a new key goes first and the old ones stay "
            "until `sendpool rotate-keys` has re-encrypted every secret."
        ),
    )
    probe_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a connection test waits for the vendor's delivery worker to answer.",
    )
    campaign_owner_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="How long setting a campaign's sending policy waits for the scheduler to confirm "
        "who owns the campaign; without an answer the change is refused with 503.",
    )
    tenant_servers_max: int = Field(
        TENANT_SERVERS_MAX,
        ge=1,
        le=100_000,
        description="The most servers one tenant may own, whatever its plan (a plan's server_quota may be "
        "lower): each server has a queue in RabbitMQ from the moment it exists, so without a cap one tenant "
        "could load the broker for every other. The operator's own additions (pool servers, or servers it adds "
        "for a tenant) are not refused.",
    )
    outbox_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the outbox relay looks for unpublished events when no NOTIFY woke it.",
    )
    server_metrics_interval_seconds: float = Field(
        15.0,
        gt=0,
        description="How often the catalog reads every server's state and pause (one query) for its "
        "metrics (`sendpool_catalog_servers`, `sendpool_catalog_server_paused`, "
        "`sendpool_catalog_server_pause_info`); a scrape reports the last reading.",
    )
    outbox_retention_hours: float = Field(
        168.0,
        gt=0,
        description=(
            "How long published events stay in the outbox table before the relay deletes them "
            "(it looks once a minute). The newest published event always stays."
        ),
    )
    outbox_max_event_bytes: int = Field(
        CATALOG_EVENT_MAX_BYTES,
        ge=1024,
        description=(
            "The largest catalog event the outbox relay publishes; a larger one is parked (kept in the "
            "outbox with its reason, logged, counted in sendpool_catalog_outbox_parked_total) and the "
            "events after it go on. Keep it below RabbitMQ's max_message_size. The bounds on what a "
            "server may hold keep every event far below the default."
        ),
    )

    dns_nameservers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated DNS servers (`address` or `address:port`) that identity verification "
        "asks; empty: the system's resolvers.",
    )
    dns_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How long an identity verification waits for DNS in all (its lookups run at once); a "
        "lookup without an answer by then is reported as `could not check`, never as a missing record.",
    )
    bounce_mx_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names of the bounce endpoint (the bounces service's SMTP listener, "
        "e.g. `bounces.sendpool.example`): identity verification's `return_path_mx` check passes when every "
        "MX host of the Return-Path domain is one of them. Empty: that check fails as not configured.",
    )
    spf_include: str | None = Field(
        None,
        max_length=253,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="A domain every identity's SPF record must `include:` (the platform's own sending "
        "hosts), e.g. `_spf.sendpool.example`; unset: any single SPF record passes.",
    )
    require_verified_identity: bool = Field(
        False,
        description="Refuse to enable (409) a server whose identity did not pass its DNS checks, which "
        "are re-run at enable. Servers without an identity are not affected; resuming a paused server "
        "is not an enable.",
    )

    @field_validator("dns_nameservers", "bounce_mx_hosts", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("bounce_mx_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not _HOST_NAME.match(host):
                raise ValueError(f"{host!r} is not a host name")
        return [host.lower().rstrip(".") for host in hosts]
