"""Request and response bodies of the catalog's HTTP API. Secrets appear in requests only, never in responses."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from services.catalog.app.servers import ServerPage, VisibleServer
from services.catalog.domain.identity import IdentityForm
from services.catalog.domain.names import DomainName, HeaderSafeText
from services.catalog.domain.server_types import ServerTypeSpec
from services.catalog.domain.servers import Server
from shared.contracts import (
    BounceHandling,
    DestinationRule,
    IdentityVerification,
    SendingLimits,
    ServerReputation,
    ServerState,
    TenantView,
    WarmupSchedule,
    WeightedServer,
)
from shared.limits import (
    DESTINATION_RULES_MAX,
    FROM_DOMAINS_MAX,
    NAME_MAX,
    SERVER_SETTINGS_FIELDS_MAX,
    SERVERS_MAX,
)

Name = Annotated[HeaderSafeText, Field(min_length=1, max_length=NAME_MAX)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)


SERVER_QUOTA_MAX = 1_000_000
"""Stored as a PostgreSQL integer: a larger quota failed at the database (a 500) until bounded here."""


class TenantCreate(RequestBody):
    name: Name
    plan_id: UUID | None = Field(None, description="The plan deciding which pool servers the tenant may use.")


class TenantUpdate(RequestBody):
    plan_id: UUID | None = Field(description="The tenant's new plan; null leaves it without one.")


class TenantCreated(TenantView):
    token: str = Field(description="The tenant's API token. It is shown this once; keep it.")
    token_id: str = Field(description="The token's id, to find it in listings and revoke it.")


class PlanCreate(RequestBody):
    name: Name
    managed_pool: bool = Field(
        False,
        description="The operator manages the pool: tenants send through every server the plan grants, "
        "cannot add their own, and cannot narrow a campaign's selection.",
    )
    allow_own_servers: bool | None = Field(
        None,
        description="Whether the plan's tenants may add servers of their own; by default yes, "
        "except on a managed pool (which never allows them).",
    )
    server_quota: int | None = Field(
        None,
        ge=0,
        le=SERVER_QUOTA_MAX,
        description="How many servers of its own a tenant may have; null: no limit.",
    )
    server_ids: list[UUID] = Field(
        default_factory=list, max_length=SERVERS_MAX, description="Pool servers the plan grants its tenants."
    )


class PlanChange(RequestBody):
    """Fields of the plan to change; those left out stay as they are. Servers are granted with
    `PUT /plans/{plan_id}/servers`."""

    name: Name | None = None
    managed_pool: bool | None = Field(
        None,
        description="Turning it on widens every narrowed campaign of the plan's tenants to all the "
        "servers they may use (the operator now decides where their mail goes), and forbids own servers.",
    )
    allow_own_servers: bool | None = Field(
        None,
        description="Whether the plan's tenants may add servers of their own. Servers they already have "
        "stay; only new ones are refused.",
    )
    server_quota: int | None = Field(
        None,
        ge=0,
        le=SERVER_QUOTA_MAX,
        description="How many servers of its own a tenant may have; null: no limit. Lowering it below what a "
        "tenant has removes nothing; only new servers are refused.",
    )


class PlanServers(RequestBody):
    server_ids: list[UUID] = Field(
        max_length=SERVERS_MAX, description="Pool servers the plan grants, replacing the current ones."
    )


class IdentityChange(IdentityForm):
    """Fields of the identity to change, merged over the current ones: the key need not be given again.
    `dkim_selector` and `dkim_private_key` both null stop DKIM signing."""

    # Optional here, where a change may leave the domains as they are; a new identity must name them.
    from_domains: list[DomainName] | None = Field(None, min_length=1, max_length=FROM_DOMAINS_MAX)  # type: ignore[assignment]


class ServerCreate(RequestBody):
    name: Name
    type: str = Field(
        max_length=100,
        description="The kind of server, e.g. `smtp` (see GET /server-types); it decides which settings are expected.",
    )
    settings: dict[str, Any] = Field(
        max_length=SERVER_SETTINGS_FIELDS_MAX,
        description="The settings form of the type (GET /server-types); secret fields (e.g. `password`, "
        "`api_key`) are stored encrypted and never returned.",
    )
    limits: SendingLimits | None = None
    warmup: WarmupSchedule | None = Field(None, description="A new server's ramp of daily caps.")
    destination_rules: list[DestinationRule] = Field(
        default_factory=list,
        max_length=DESTINATION_RULES_MAX,
        description="Limits towards particular receiving domains (and their provider's others).",
    )
    identity: IdentityForm | None = Field(
        None, description="The domains the server sends for, its DKIM key and its Return-Path domain."
    )
    bounce_handling: BounceHandling | None = Field(
        None, description="Bounce and complaint rates at which the server is paused (defaults apply)."
    )
    tenant_id: UUID | None = Field(
        None,
        description="Operator only: the tenant that owns the server. Omitted: a pool server (operator) or your own (tenant).",
    )


class ServerUpdate(RequestBody):
    name: Name | None = None
    settings: dict[str, Any] | None = Field(
        None,
        max_length=SERVER_SETTINGS_FIELDS_MAX,
        description="Fields to change, merged over the current ones. A change makes the server inactive until tested again.",
    )
    limits: SendingLimits | None = None
    warmup: WarmupSchedule | None = Field(
        None, description="A new ramp of daily caps; null removes the ramp."
    )
    destination_rules: list[DestinationRule] | None = Field(
        None, max_length=DESTINATION_RULES_MAX, description="Replaces every destination rule."
    )
    identity: IdentityChange | None = Field(
        None, description="Fields of the identity to change; null removes the identity (and DKIM signing)."
    )
    bounce_handling: BounceHandling | None = Field(None, description="Replaces the thresholds.")


class PauseRequest(RequestBody):
    reason: HeaderSafeText = Field(
        min_length=1, max_length=500, description="Why, for whoever reads the server or a held campaign."
    )


class DisableRequest(RequestBody):
    reason: HeaderSafeText | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="Operator only, optional: why the server is held disabled, for its owner to read.",
    )


class TestSendRequest(RequestBody):
    to: EmailStr = Field(description="Where the test message goes.")
    from_address: EmailStr | None = Field(
        None, description="The sender; by default test@ the server's first identity.from_domains."
    )


class TestSendOut(ResponseBody):
    ok: bool
    message: str = Field(description="What the server answered, e.g. the accepting reply and its queue id.")
    to: str
    sent_at: datetime


class ConnectionTestOut(ResponseBody):
    ok: bool
    message: str = Field(description='"Connection successful." or "Connection failed: <reason>".')
    tested_at: datetime


class DnsRecordOut(BaseModel):
    name: str
    type: Literal["TXT"] = "TXT"
    value: str


class IdentityOut(BaseModel):
    from_domains: list[str]
    dkim_selector: str | None
    return_path_domain: str | None
    dkim_algorithm: Literal["rsa", "ed25519"] | None = Field(
        description="The DKIM key's kind; null: no signing."
    )
    dkim_dns_records: list[DnsRecordOut] = Field(
        description="The TXT record each from-domain publishes so that receivers can check the signature."
    )

    @classmethod
    def of(cls, server: Server) -> "IdentityOut | None":
        identity = server.identity
        if identity is None:
            return None
        return cls(
            **identity.public.model_dump(),
            dkim_algorithm=identity.dkim_algorithm,
            dkim_dns_records=[DnsRecordOut(name=name, value=value) for name, value in identity.dns_records()],
        )


class PauseOut(BaseModel):
    reason: str
    by: str = Field(description="`operator`, `tenant`, or the service that asked (e.g. `bounces`).")
    at: datetime


class HoldOut(BaseModel):
    action: Literal["paused", "disabled"] = Field(description="What the operator did to the server.")
    reason: str
    at: datetime


class ServerOut(BaseModel):
    id: UUID
    tenant_id: UUID | None = Field(description="The owner; null for a pool server.")
    name: str
    type: str
    vendor: str
    settings: dict[str, Any] = Field(description="Connection settings without the secret ones.")
    state: ServerState
    pause: PauseOut | None = Field(description="Why and since when the server is paused (state `paused`).")
    hold: HoldOut | None = Field(
        description="The operator's pause or disable: until the operator resumes or enables the server, "
        "its owner can neither, and changing its settings leaves it as it is."
    )
    limits: SendingLimits
    warmup: WarmupSchedule | None
    destination_rules: list[DestinationRule]
    identity: IdentityOut | None = Field(description="The identity without its private key.")
    identity_verification: IdentityVerification | None = Field(
        None,
        description="The last DNS check of the identity (`POST /servers/{id}/verify`): each check with what "
        "was found and what to publish; null when never checked since the identity was set.",
    )
    bounce_handling: BounceHandling
    reputation: ServerReputation | None = Field(
        description="Its bounce and complaint rates over the bounces service's window, as last reported "
        "(`bounced` counts hard bounces); null: nothing reported yet."
    )
    shared: bool = Field(description="Granted by your plan: you may send through it but not change it.")
    settings_changed_at: datetime
    last_test: ConnectionTestOut | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, listed: VisibleServer) -> "ServerOut":
        server = listed.server
        view = server.view()
        return cls(
            **view.model_dump(exclude={"identity", "pause_reason"}),
            settings=server.settings,
            pause=PauseOut(reason=server.pause.reason, by=server.pause.by, at=server.pause.at)
            if server.pause
            else None,
            hold=HoldOut(action=server.hold.action, reason=server.hold.reason, at=server.hold.at)
            if server.hold
            else None,
            identity=IdentityOut.of(server),
            shared=listed.shared,
            settings_changed_at=server.settings_changed_at,
            last_test=ConnectionTestOut.model_validate(server.last_test) if server.last_test else None,
            created_at=server.created_at,
            updated_at=server.updated_at,
        )

    @classmethod
    def managed(cls, server: Server) -> "ServerOut":
        """A server the caller has just changed, so one it manages rather than one shared with it."""
        return cls.of(VisibleServer(server, shared=False))


class ServerPageOut(BaseModel):
    items: list[ServerOut]
    total: int = Field(description="Servers matching the query, on every page.")
    limit: int
    offset: int

    @classmethod
    def of(cls, page: ServerPage, limit: int, offset: int) -> "ServerPageOut":
        return cls(
            items=[ServerOut.of(item) for item in page.servers], total=page.total, limit=limit, offset=offset
        )


class ServerTypeOut(BaseModel):
    name: str = Field(description="What `type` is set to when adding a server.")
    vendor: str = Field(description="The delivery workers (SENDPOOL_DELIVERY_VENDOR) that send for the type.")
    integration: Literal["smtp", "api", "local"]
    label: str = Field(description="A short name for people (`SMTP relay`), as a type picker shows it.")
    title: str
    operator_only: bool = Field(
        description="Runs on the platform's own machine or IP addresses: only the operator adds such servers "
        "(pool servers, granted to tenants by their plan)."
    )
    secret_fields: list[str] = Field(description="Write-only fields: encrypted at rest, never returned.")
    settings_schema: dict[str, Any] = Field(
        description="JSON Schema of the settings form; secret fields are `writeOnly`."
    )

    @classmethod
    def of(cls, spec: ServerTypeSpec) -> "ServerTypeOut":
        return cls(
            name=spec.name,
            vendor=spec.vendor,
            integration=spec.integration,
            label=spec.label,
            title=spec.title,
            operator_only=spec.operator_only,
            secret_fields=sorted(spec.secret_fields),
            settings_schema=spec.form_schema(),
        )


class StateCountsOut(ResponseBody):
    total: int
    active: int
    inactive: int
    disabled: int
    paused: int


class ThroughputOut(ResponseBody):
    per_hour: int = Field(
        description="What the active servers may send in an hour: each one's tightest limit (per second "
        "x 3600, per minute x 60, per hour, per day, today's warmup cap), summed."
    )
    unlimited_servers: int = Field(description="Active servers without any limit, not in per_hour.")


class WarmupOut(ResponseBody):
    server_id: UUID
    name: str
    phase: Literal["not_started", "warming", "warm"]
    day: int = Field(description="Day N of the ramp (1 on its start date, 0 before).")
    days: int = Field(description="M, the length of the ramp in days.")
    todays_cap: int | None = Field(description="Messages the server may send today; null once warm.")


class ServerRatesOut(ResponseBody):
    server_id: UUID
    name: str
    state: ServerState
    window_hours: int = Field(description="The hours the rates are summed over.")
    sent: int
    bounced: int = Field(description="Hard bounces.")
    complained: int
    bounce_rate: float | None = Field(description="bounced / sent; null before anything was sent.")
    complaint_rate: float | None = Field(description="complained / sent; null before anything was sent.")
    over_limits: list[Literal["bounce", "complaint"]] = Field(
        description="The server's `bounce_handling` limits these rates are above (once `min_volume` was sent)."
    )
    measured_at: datetime


class ReputationOut(ResponseBody):
    reported: int = Field(description="Servers whose rates the bounces service reported.")
    worst_bounce: ServerRatesOut | None = Field(
        description="The highest bounce rate among the servers that sent at least their `min_volume`."
    )
    worst_complaint: ServerRatesOut | None = Field(
        description="The highest complaint rate among the servers that sent at least their `min_volume`."
    )
    over_limits: list[ServerRatesOut] = Field(
        description="Every server whose last reported rates are above its limits, whatever its state (a "
        "paused one shows why the bounces service paused it)."
    )


class SummaryOut(ResponseBody):
    counts: StateCountsOut
    vendors: dict[str, int] = Field(description="Servers per vendor.")
    throughput: ThroughputOut
    warmup: list[WarmupOut] = Field(description="Every server with a warmup schedule.")
    reputation: ReputationOut = Field(
        description="Bounce and complaint rates, as the bounces service reports them."
    )


class OwnerOut(ResponseBody):
    tenant_id: UUID | None = Field(description="null: the operator's pool servers.")
    tenant_name: str | None
    counts: StateCountsOut


class PoolOut(ResponseBody):
    summary: SummaryOut = Field(description="Across every tenant's servers and the pool servers.")
    owners: list[OwnerOut] = Field(
        description="Server counts per owner: the pool first, then tenants by name."
    )


class PolicyUpdate(RequestBody):
    use_all: bool = Field(
        True, description="Send through every server you may use, picked at random per message."
    )
    selection: list[WeightedServer] = Field(
        default_factory=list,
        max_length=SERVERS_MAX,
        description="With use_all false: the only servers to use, in proportion to their weights.",
    )
