"""Settings of the delivery worker: its own knobs are `SENDPOOL_DELIVERY_*`, the shared ones `SENDPOOL_*`."""

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.egress import EgressPolicy
from shared.settings import EgressAllowList, ServiceSettings, UnsubscribeSettings, VerpSettings

DEV_UNSUBSCRIBE_BASE_URL = "http://127.0.0.1:8005"
"""The bounces service on a developer's machine (its default port): the base URL in development mode."""
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class DeliverySettings(UnsubscribeSettings, VerpSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_DELIVERY_")

    vendor: str = Field(
        "smtp",
        description="The vendor this worker sends for: it consumes the queue of every active server of this "
        "vendor (one Deployment per vendor).",
    )
    max_attempts: int = Field(
        5, ge=1, description="Attempts before a message that keeps being deferred is reported failed."
    )
    retry_base_seconds: float = Field(
        30,
        gt=0,
        description="Wait before the first retry of a deferred message; each further retry waits twice as long "
        "(rounded up to the next delay queue step).",
    )
    max_age_seconds: float = Field(
        86400,
        gt=0,
        description="A message still deferred this long after its first attempt is reported failed.",
    )
    status_linger_seconds: float = Field(
        0.05,
        ge=0,
        le=5,
        description="How long status events wait for company before they are published: a worker's outcomes "
        "arrive one send at a time, and each status message costs every consumer of `sendpool.status` a "
        "delivery, so they travel in batches. A batch is acknowledged only once its statuses are published, "
        "so this adds at most this much to when its recipients' statuses are seen, never to sending.",
    )
    record_retry_seconds: float = Field(
        600,
        gt=0,
        description="How long a worker keeps trying to record a send's outcome while the database cannot be "
        "reached (restarting, connection dropped), pausing longer each time. The message is acknowledged only "
        "once its outcome is recorded, so it is not sent again meanwhile; past this (or when the worker stops), "
        "it is redelivered and reported `unknown`. Keep it below RabbitMQ's consumer timeout (30 min).",
    )
    smtp_max_connections: int = Field(4, ge=1, description="Open SMTP connections per server, at most.")
    smtp_timeout_seconds: float = Field(
        60, gt=0, description="How long to wait for an SMTP server to connect or answer one command."
    )
    smtp_helo_hostname: str | None = Field(
        None, description="Name this worker gives in EHLO; by default the machine's fully qualified name."
    )
    sends_per_server: int = Field(
        8,
        ge=1,
        description="Messages one worker sends through one server at a time. A message is claimed only "
        "when its turn comes, so a worker that dies leaves at most this many per server whose outcome is "
        "unknown; above the server's connections, the extra ones wait with their claim already made.",
    )
    late_after_seconds: float = Field(
        2,
        gt=0,
        description="A message counted against its server's limits that reaches the worker later than this "
        "after it was routed (its queue backed up) is sent only once a router has counted it again, waiting "
        "for the server's capacity, so a backlog goes out at the server's rate rather than in one burst.",
    )
    circuit_failure_threshold: int = Field(
        5,
        ge=1,
        description="Connection failures in a row (cannot connect, TLS failed, credentials refused) that open "
        "a server's circuit breaker: the worker stops sending through it and reports it unhealthy.",
    )
    circuit_cooldown_seconds: float = Field(
        30,
        gt=0,
        description="How long an open circuit waits before the worker probes the server again; "
        "a successful probe closes it and the server is sent through again.",
    )
    dns_servers: Annotated[list[str], NoDecode] = Field(
        [],
        description="DNS servers that direct-to-MX delivery asks for MX records, comma-separated "
        "(`10.0.0.2,10.0.0.3:5353`); by default the system's resolvers.",
    )
    mx_port: int = Field(
        25, ge=1, le=65535, description="Port of the MX hosts that direct-to-MX delivery connects to."
    )
    sendmail_path: str = Field(
        "/usr/sbin/sendmail",
        min_length=2,
        max_length=1024,
        pattern=r"^/\S+$",
        description="The sendmail-compatible program the `sendmail` workers hand messages to (an absolute "
        "path, no arguments); it is the operator's choice for every `sendmail` server. It runs with only "
        "PATH=/usr/sbin:/usr/bin:/bin and LANG=C in its environment: a program that needs more (Postfix's "
        "MAIL_CONFIG) is given it by a wrapper script set here.",
    )
    egress_allow: EgressAllowList = Field(
        [],
        description="Internal destinations tenants' servers may connect to, comma-separated: `CIDR`, "
        "`CIDR:port`, `CIDR:low-high` or `[IPv6 CIDR]:port` (`10.20.0.0/16:587,[fd00::/8]:25`). Every other "
        "loopback, private, link-local (the cloud metadata address), multicast, reserved or shared address is "
        "refused, whatever name resolves to it; public addresses are always allowed. Only for real relays "
        "inside the platform's network: never RabbitMQ's, PostgreSQL's or a service's own ports.",
    )
    tls_ca_file: FilePath | None = Field(
        None,
        description="A PEM bundle of further CAs trusted for TLS to SMTP relays and vendor APIs (a private "
        "CA signing an internal relay's certificate), beside the public ones.",
    )
    catalog_snapshot_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long to wait for the catalog's snapshot of every server (asked again until it comes).",
    )
    server_settings_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long to wait for the catalog to hand over one server's connection settings; the "
        "message waiting for them is retried like any transient fault.",
    )
    admission_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long to wait for a router to admit a late message under its server's limits; "
        "the message keeps waiting and the worker asks again.",
    )
    campaign_holds_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="How long a starting worker waits for a router to say which campaigns are paused or "
        "cancelled (`router.campaign-holds`). It asks three times before it starts consuming its servers' "
        "queues, then keeps asking in the background; campaign events keep it current from then on.",
    )
    suppression_check_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a delivery batch waits for the bounces service to say which of its recipients "
        "are suppressed (`bounces.rpc`, asked once per batch just before sending, and again for a late message "
        "that waited for capacity). Without an answer nothing of the batch is sent: it waits and asks again "
        "(SENDPOOL_TRANSIENT_RETRY_SECONDS).",
    )

    unsubscribe_base_url: str | None = Field(
        None,
        max_length=500,
        description="The public URL of the bounces service's one-click unsubscribe endpoint, as recipients and "
        "their mailbox providers reach it (`https://unsubscribe.example.com`): every message carries "
        "`List-Unsubscribe: <this URL>/unsubscribe/<token>` (RFC 8058). Required outside development mode (where "
        f"it is {DEV_UNSUBSCRIBE_BASE_URL}), and https there, but for a loopback host (a local stack).",
    )

    @model_validator(mode="after")
    def _unsubscribe_base_url_usable(self) -> "DeliverySettings":
        if self.unsubscribe_base_url is None:
            if not self.dev_mode:
                raise ValueError(
                    "set SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL, the public https URL of the bounces service's "
                    "unsubscribe endpoint"
                )
            self.unsubscribe_base_url = DEV_UNSUBSCRIBE_BASE_URL
        url = urlsplit(self.unsubscribe_base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            raise ValueError(
                "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL must be an http(s) URL without query or fragment"
            )
        if url.scheme != "https" and not self.dev_mode and url.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(
                "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL must be https (mailbox providers POST to it)"
            )
        if (
            any(ch.isspace() or ch in '<>"' for ch in self.unsubscribe_base_url)
            or not self.unsubscribe_base_url.isascii()
        ):
            raise ValueError("SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL must be written in ASCII without spaces")
        return self

    @field_validator("dns_servers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [server.strip() for server in value.split(",") if server.strip()]
        return value

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_entries(self.egress_allow)
