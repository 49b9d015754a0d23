"""Settings of the webhooks service (environment variables `SENDPOOL_WEBHOOKS_*`, and the shared `SENDPOOL_*`)."""

from pydantic import Field, FilePath
from pydantic_settings import SettingsConfigDict

from shared.egress import EgressPolicy
from shared.settings import ApiAuthSettings, EgressAllowList, FernetKeys, ServiceSettings, secret_field

DEVELOPMENT_SECRET_KEY = "c2VuZHBvb2wtd2ViaG9va3MtZGV2ZWxvcG1lbnQtISE="
"""Public (base64 of `sendpool-webhooks-development-!!`): what development mode encrypts with."""


class WebhooksSettings(ApiAuthSettings, ServiceSettings):
    # A malformed setting must not print its value: the keys are secrets.
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_WEBHOOKS_", hide_input_in_errors=True)

    secret_keys: FernetKeys = secret_field(
        dev_value=[DEVELOPMENT_SECRET_KEY],
        description="Comma-separated Fernet keys (urlsafe base64 of 32 bytes) that encrypt the endpoints' "
        "signing secrets at rest. The first key encrypts; every key decrypts, so a new key goes first and "
        "the old ones stay until every secret was rotated.",
    )
    egress_allow: EgressAllowList = Field(
        [],
        description="Internal destinations webhook endpoints may be on, comma-separated as "
        "SENDPOOL_DELIVERY_EGRESS_ALLOW (`CIDR`, `CIDR:port`, `CIDR:low-high`, `[IPv6 CIDR]:port`). Every "
        "other internal address is refused, at registration and again at each request, after resolving.",
    )
    allow_http: bool = Field(
        False,
        description="Accept http:// endpoint URLs (development and tests only): signed but not encrypted, "
        "so anyone on the path reads every event.",
    )
    tls_ca_file: FilePath | None = Field(
        None,
        description="A PEM bundle of further CAs trusted for endpoints' certificates, beside the public ones.",
    )
    max_endpoints_per_tenant: int = Field(20, ge=1, description="Endpoints one tenant may register.")
    url_max_length: int = Field(2048, ge=32, le=8192, description="The longest endpoint URL accepted.")
    secret_grace_hours: float = Field(
        24.0,
        ge=0,
        description="After `rotate-secret`, how long the previous secret keeps signing beside the new one "
        "(two signatures in `webhook-signature`), so the receiver can switch without losing a request.",
    )
    event_retention_days: float = Field(
        7.0,
        gt=0,
        description="How long the events of tenants with endpoints are kept, to retry and to replay: a "
        "replay reaches back this far, and an event still undelivered after it is dropped.",
    )
    delivery_log_retention_days: float = Field(
        14.0, gt=0, description="How long each request of the delivery log is kept."
    )
    batch_max_events: int = Field(
        100,
        ge=1,
        le=1000,
        description="The most events one request carries once an endpoint has fallen behind (more than one "
        "event due): they go as one `batch` request; an endpoint that keeps up gets one event per request.",
    )
    request_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=60,
        description="The longest one request may take, connecting and reading the answer included; past it "
        "the request counts as failed and is retried.",
    )
    response_max_bytes: int = Field(
        4096, ge=0, description="Bytes of an endpoint's answer read (and dropped): the rest is never read."
    )
    retry_base_seconds: float = Field(
        5.0, gt=0, description="The wait after an endpoint's first failure; it doubles per failure in a row."
    )
    retry_max_seconds: float = Field(
        3600.0, gt=0, description="The longest wait between two tries of a failing endpoint."
    )
    disable_after_hours: float = Field(
        72.0,
        gt=0,
        description="An endpoint that has failed for this long without one success is disabled, with the "
        "reason; its events wait (within the retention) until the tenant enables it again.",
    )
    concurrency: int = Field(
        50, ge=1, description="Requests in flight at once per process, over all endpoints (one per endpoint)."
    )
    tenant_concurrency: int = Field(
        5,
        ge=1,
        description="Requests in flight at once for one tenant's endpoints (across replicas), so one tenant's "
        "many or slow endpoints cannot take every slot.",
    )
    poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the sender looks for due endpoints when nothing woke it (new events and "
        "finished requests wake it at once).",
    )
    events_prefetch: int = Field(
        20, ge=1, description="Messages of `webhooks.events` (batches of up to 1000 events) in hand at once."
    )
    replay_max_events: int = Field(
        100_000, ge=1, description="The most events one replay may queue; a larger window is refused (422)."
    )
    prune_seconds: float = Field(600.0, gt=0, description="How often old events and log entries are deleted.")

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_entries(self.egress_allow)
