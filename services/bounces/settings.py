"""Settings of the bounces service (environment variables `SENDPOOL_BOUNCES_*`, and the shared `SENDPOOL_*`)."""

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.bounces.domain.webhooks.ses import valid_host_pattern
from shared.egress import EgressPolicy
from shared.settings import (
    ApiAuthSettings,
    CommaSeparated,
    EgressAllowList,
    ServiceSettings,
    UnsubscribeSettings,
    VerpSettings,
)


class BouncesSettings(ApiAuthSettings, VerpSettings, UnsubscribeSettings, ServiceSettings):
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
    # Server protection (services/bounces/app/protection.py).
    rate_window_hours: int = Field(
        24,
        ge=1,
        le=720,
        description="The sliding window, in hours, over which each server's bounce and complaint rates are "
        "summed from its hourly counters (the current hour and the ones before it); past the server's "
        "`bounce_handling` limits the bounces service asks the catalog to pause it. Older counters are deleted.",
    )
    protection_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the servers whose counters changed are judged against their limits, all in one "
        "round (one query, one catalog view), never per event: the longest a server past its limit keeps "
        "sending before it is paused, beside the catalog's answer.",
    )
    reputation_report_seconds: float = Field(
        60.0,
        ge=1,
        description="At most one `ServerReputationReport` (rates for the pool views) per server this often; a "
        "server whose counters changed meanwhile is reported when its turn comes.",
    )
    protection_catalog_view_seconds: float = Field(
        30.0,
        ge=0,
        description="How long the catalog's view of the servers (their limits and states, one snapshot) is kept "
        "for the next rounds: a changed limit or a resume counts after at most this long.",
    )
    protection_catalog_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long server protection waits for the catalog's snapshot or its answer to a pause "
        "request; past it the round is retried.",
    )
    # The feedback loop (services/bounces/app/feedback.py, the bounce mail endpoint, the API).
    sent_retention_days: float = Field(
        30.0,
        gt=0,
        description="How long a sent message is remembered (`sent_messages`) to match feedback to it: "
        "feedback about a message sent earlier is kept, unmatched, and acts on nothing.",
    )
    sent_prune_seconds: float = Field(
        3600.0,
        gt=0,
        description="How often messages past SENDPOOL_BOUNCES_SENT_RETENTION_DAYS are forgotten.",
    )
    soft_bounce_limit: int = Field(
        3,
        ge=1,
        description="Soft bounces of one address (for one tenant) within SENDPOOL_BOUNCES_SOFT_WINDOW_DAYS "
        "after which the address is suppressed for SENDPOOL_BOUNCES_SOFT_SUPPRESSION_DAYS.",
    )
    soft_window_days: float = Field(
        7.0, gt=0, description="The window in which soft bounces of an address are counted."
    )
    soft_suppression_days: float = Field(
        7.0, gt=0, description="How long an address that bounced softly too often stays suppressed."
    )
    feedback_retention_days: float = Field(
        180.0,
        gt=0,
        description="How long a piece of feedback (its raw source and its recipient reports) is kept; older "
        "ones are deleted by the same round as old sent messages. The suppressions it caused stay. At least "
        "SENDPOOL_BOUNCES_SOFT_WINDOW_DAYS, since soft bounces are counted from the kept feedback.",
    )
    rematch_window_seconds: float = Field(
        3600.0,
        ge=0,
        description="Feedback that names a message the bounces service has not heard was sent (its `sent` "
        "event may come after the bounce) is matched again for this long after it arrived; 0: never.",
    )
    rematch_seconds: float = Field(
        5.0, gt=0, description="How often unmatched recent feedback is matched again (see the window above)."
    )
    raw_max_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Bytes of each piece of feedback's raw source kept with it (a mail, a vendor event); "
        "the rest is cut off (its size as received is kept).",
    )
    smtp_host: str = Field("0.0.0.0", description="Address the bounce mail endpoint (SMTP) listens on.")
    smtp_port: int = Field(
        2525,
        ge=0,
        le=65535,
        description="Port of the bounce mail endpoint, to which the Return-Path domains' MX points "
        "(through a port 25 forward); 0 takes any free port (tests).",
    )
    smtp_hostname: str = Field(
        "sendpool-bounces", max_length=253, description="The name the bounce mail endpoint greets with."
    )
    mail_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="The largest mail the bounce endpoint accepts (announced in EHLO SIZE); a larger one is "
        "refused with 552.",
    )
    smtp_max_sessions: int = Field(
        100,
        ge=1,
        description="SMTP sessions the bounce endpoint serves at once; one more is answered 421 on connect "
        "(the sender retries later).",
    )
    smtp_max_recipients: int = Field(
        50, ge=1, description="Recipients one mail to the bounce endpoint may have; more are answered 452."
    )
    smtp_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="How long the bounce endpoint waits for the next command or line of a session.",
    )
    smtp_session_max_seconds: float = Field(
        600.0,
        gt=0,
        description="The longest one SMTP session to the bounce endpoint may last, however busy: a sender "
        "that trickles bytes cannot hold a session for good.",
    )
    suppression_import_max_rows: int = Field(
        10_000, ge=1, description="Addresses one `POST /suppressions/import` may carry."
    )
    suppression_import_max_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="The largest body of a `POST /suppressions/import`."
    )
    # Vendor webhooks (services/bounces/entrypoints/webhooks.py).
    egress_allow: EgressAllowList = Field(
        [],
        description="Internal destinations the bounces service may fetch from for webhooks (SNS signing "
        "certificates, SNS subscription confirmations), comma-separated as SENDPOOL_DELIVERY_EGRESS_ALLOW: "
        "`CIDR`, `CIDR:port`, `CIDR:low-high` or `[IPv6 CIDR]:port`. Every other internal address is refused; "
        "public addresses are always allowed (the host must still match SENDPOOL_BOUNCES_SNS_CERT_HOSTS).",
    )
    tls_ca_file: FilePath | None = Field(
        None,
        description="A PEM bundle of further CAs trusted for the https fetches of webhooks (SNS signing "
        "certificates and subscription confirmations), beside the public ones.",
    )
    sns_cert_hosts: CommaSeparated = Field(
        ["sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"],
        description="Hosts an SNS message's `SigningCertURL` and `SubscribeURL` may name, comma-separated; "
        "`*` stands for exactly one DNS label (`sns.*.amazonaws.com` takes `sns.eu-west-1.amazonaws.com`, "
        "not `sns.evil.example.amazonaws.com` nor `evil.com`). Only https URLs are fetched. A message whose "
        "URL names another host is refused unread: anyone can sign with a certificate they serve themselves.",
    )
    webhook_timestamp_tolerance_seconds: int = Field(
        600,
        ge=30,
        description="How old a signed SendGrid or Mailgun webhook's timestamp may be (or how far ahead): an "
        "older request is refused as a possible replay of a captured one.",
    )
    webhook_server_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="How long a server's webhook keys, asked of the catalog, are kept for the next requests: "
        "a changed key applies after at most this long; 0 asks the catalog on every request.",
    )
    webhook_catalog_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a webhook request waits for the catalog to hand over its server's keys; past "
        "it the request is answered 503 and the vendor retries.",
    )

    @field_validator("sns_cert_hosts")
    @classmethod
    def _valid_host_patterns(cls, patterns: list[str]) -> list[str]:
        wrong = [pattern for pattern in patterns if not valid_host_pattern(pattern)]
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)}: a host pattern is DNS labels or `*`, its last two labels written out"
            )
        return patterns

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_entries(self.egress_allow)

    @model_validator(mode="after")
    def _feedback_outlives_the_soft_window(self) -> "BouncesSettings":
        if self.feedback_retention_days < self.soft_window_days:
            raise ValueError(
                "SENDPOOL_BOUNCES_FEEDBACK_RETENTION_DAYS must be at least SENDPOOL_BOUNCES_SOFT_WINDOW_DAYS: "
                "soft bounces are counted from the feedback kept"
            )
        return self
