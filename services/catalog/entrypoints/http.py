"""The catalog's HTTP API: each route resolves the caller, calls one use case and shapes the answer."""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, status

from services.catalog.app.catalog import CatalogUseCases
from services.catalog.app.ports import ServerQuery
from services.catalog.domain.access import OPERATOR, Actor
from services.catalog.domain.servers import UNCHANGED, Unchanged
from services.catalog.domain.tokens import expiry
from services.catalog.entrypoints.http_schemas import (
    ConnectionTestOut,
    DisableRequest,
    PauseRequest,
    PlanChange,
    PlanCreate,
    PlanServers,
    PolicyUpdate,
    PoolOut,
    ServerCreate,
    ServerOut,
    ServerPageOut,
    ServerTypeOut,
    ServerUpdate,
    SummaryOut,
    TenantCreate,
    TenantCreated,
    TenantUpdate,
    TestSendOut,
    TestSendRequest,
)
from services.catalog.entrypoints.token_schemas import PresentedToken, TokenInfo, TokenIssued, TokenRequest
from services.catalog.settings import CatalogSettings
from shared.auth import TOKEN_ID_PATTERN, Principal, RevokedTokens, app_token_secrets, principal_dependency
from shared.contracts import PlanView, SendingPolicy, ServerState, TenantView
from shared.errors import Forbidden, InvalidInput
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit


def _use_cases(request: Request) -> CatalogUseCases:
    use_cases: CatalogUseCases = request.app.state.use_cases
    return use_cases


def _actor(principal: Annotated[Principal, Depends(principal_dependency(app_token_secrets))]) -> Actor:
    return OPERATOR if principal.is_operator else Actor(tenant_id=principal.tenant_id)


def _operator_only(actor: Annotated[Actor, Depends(_actor)]) -> None:
    if not actor.is_operator:
        raise Forbidden("only the operator may do this; use the operator token")


UseCases = Annotated[CatalogUseCases, Depends(_use_cases)]
Caller = Annotated[Actor, Depends(_actor)]

tenants = APIRouter(prefix="/tenants", tags=["tenants"], dependencies=[Depends(_operator_only)])
plans = APIRouter(prefix="/plans", tags=["plans"], dependencies=[Depends(_operator_only)])
server_types = APIRouter(prefix="/server-types", tags=["server types"])
servers = APIRouter(prefix="/servers", tags=["servers"])
pool = APIRouter(prefix="/pool", tags=["pool"], dependencies=[Depends(_operator_only)])
policies = APIRouter(prefix="/campaigns/{campaign_id}/sending-policy", tags=["sending policies"])
tokens = APIRouter(tags=["tokens"])


@tenants.post(
    "", status_code=status.HTTP_201_CREATED, response_model=TenantCreated, summary="Create a tenant"
)
async def create_tenant(body: TenantCreate, use: UseCases) -> TenantCreated:
    tenant, record, token = await use.tenancy.create_tenant(body.name, body.plan_id)
    return TenantCreated(**tenant.model_dump(), token=token, token_id=record.id)


@tenants.get("", response_model=list[TenantView], summary="List tenants")
async def list_tenants(use: UseCases) -> list[TenantView]:
    return await use.tenancy.list_tenants()


@tenants.patch("/{tenant_id}", response_model=TenantView, summary="Move a tenant to a plan")
async def move_tenant(tenant_id: UUID, body: TenantUpdate, use: UseCases) -> TenantView:
    return await use.tenancy.move_tenant(tenant_id, body.plan_id)


TokenId = Annotated[
    str, Path(pattern=TOKEN_ID_PATTERN, description="The token's id (the part after the tenant's).")
]


@tokens.post(
    "/tenants/{tenant_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenIssued,
    summary="Issue a further API token, optionally expiring",
    dependencies=[Depends(_operator_only)],
)
async def issue_token(tenant_id: UUID, use: UseCases, body: TokenRequest | None = None) -> TokenIssued:
    body = body or TokenRequest()
    expires_at = expiry(
        datetime.now(UTC), expires_in_seconds=body.expires_in_seconds, expires_at=body.expires_at
    )
    record, token = await use.tokens.issue(tenant_id, label=body.label, expires_at=expires_at)
    return TokenIssued(**TokenInfo.of(record).model_dump(), token=token)


@tokens.get(
    "/tenants/{tenant_id}/tokens",
    response_model=list[TokenInfo],
    summary="List a tenant's tokens, newest first (never the tokens themselves)",
    description="The operator may list any tenant's tokens, a tenant its own; another tenant's are a 404.",
)
async def list_tokens(
    tenant_id: UUID,
    actor: Caller,
    use: UseCases,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[TokenInfo]:
    listed = await use.tokens.of_tenant(actor, tenant_id, limit=limit, offset=offset)
    return [TokenInfo.of(record) for record in listed]


@tokens.delete(
    "/tenants/{tenant_id}/tokens/{token_id}",
    response_model=TokenInfo,
    summary="Revoke one of a tenant's tokens",
    description="Every service refuses the token within seconds (401 `token revoked`); revoking it again "
    "changes nothing. The operator may revoke any tenant's tokens, a tenant its own; another tenant's are a 404.",
)
async def revoke_token(tenant_id: UUID, token_id: TokenId, actor: Caller, use: UseCases) -> TokenInfo:
    return TokenInfo.of(await use.tokens.revoke(actor, tenant_id, token_id))


@tokens.post(
    "/tokens/revoke",
    response_model=TokenInfo,
    summary="Revoke the token given in full",
    description="For a token whose id is not at hand, and for tokens issued before tokens had ids (which "
    "no listing shows). A tenant may revoke only its own tokens (another tenant's are a 404).",
)
async def revoke_presented_token(body: PresentedToken, actor: Caller, use: UseCases) -> TokenInfo:
    return TokenInfo.of(await use.tokens.revoke_presented(actor, body.token))


@plans.post("", status_code=status.HTTP_201_CREATED, response_model=PlanView, summary="Create a plan")
async def create_plan(body: PlanCreate, use: UseCases) -> PlanView:
    return await use.tenancy.create_plan(
        body.name,
        allow_own_servers=body.allow_own_servers,
        server_quota=body.server_quota,
        server_ids=body.server_ids,
        managed_pool=body.managed_pool,
    )


@plans.put("/{plan_id}/servers", response_model=PlanView, summary="Set the pool servers a plan grants")
async def grant_servers(plan_id: UUID, body: PlanServers, use: UseCases) -> PlanView:
    return await use.tenancy.grant_servers(plan_id, body.server_ids)


@plans.get("/{plan_id}", response_model=PlanView, summary="Read a plan")
async def get_plan(plan_id: UUID, use: UseCases) -> PlanView:
    return await use.tenancy.get_plan(plan_id)


@plans.patch(
    "/{plan_id}",
    response_model=PlanView,
    summary="Change a plan",
    responses={422: {"description": "A managed pool that would allow own servers, or a field out of range"}},
)
async def change_plan(plan_id: UUID, body: PlanChange, use: UseCases) -> PlanView:
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "managed_pool", "allow_own_servers"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, f"{field} cannot be null")
    return await use.tenancy.change_plan(plan_id, changes)


@plans.get("", response_model=list[PlanView], summary="List plans")
async def list_plans(use: UseCases) -> list[PlanView]:
    return await use.tenancy.list_plans()


@server_types.get(
    "",
    response_model=list[ServerTypeOut],
    summary="List the server types and their settings forms",
    dependencies=[Depends(_actor)],
)
async def list_server_types(use: UseCases) -> list[ServerTypeOut]:
    return [ServerTypeOut.of(spec) for spec in use.server_types]


@servers.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ServerOut,
    summary="Add a server (saved inactive, not probed)",
)
async def create_server(body: ServerCreate, actor: Caller, use: UseCases) -> ServerOut:
    server = await use.servers.create(
        actor,
        name=body.name,
        type=body.type,
        settings=body.settings,
        limits=body.limits,
        warmup=body.warmup,
        destination_rules=body.destination_rules,
        identity=body.identity.model_dump() if body.identity else None,
        bounce_handling=body.bounce_handling,
        tenant_id=body.tenant_id,
    )
    return ServerOut.managed(server)


@servers.get("", response_model=ServerPageOut, summary="List the servers you may see, a page at a time")
async def list_servers(
    actor: Caller,
    use: UseCases,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or the host.")] = None,
    state: Annotated[tuple[ServerState, ...], Query(description="Only servers in these states.")] = (),
    type: Annotated[tuple[str, ...], Query(description="Only servers of these types.")] = (),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    # PostgreSQL's OFFSET is a bigint: a larger offset failed there, a 500, until bounded here.
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ServerPageOut:
    query = ServerQuery(text=q, states=state, types=type, limit=limit, offset=offset)
    return ServerPageOut.of(await use.servers.list_visible(actor, query), limit, offset)


@servers.get(
    "/summary",
    response_model=SummaryOut,
    summary="Vendor mix, hourly throughput and warmup progress of the servers you may use",
)
async def summarise_servers(
    actor: Caller,
    use: UseCases,
    tenant_id: Annotated[
        UUID | None, Query(description="Operator only: one tenant's servers as it sees them.")
    ] = None,
) -> SummaryOut:
    return SummaryOut.model_validate(await use.views.summary(actor, tenant_id))


@servers.get("/{server_id}", response_model=ServerOut, summary="Read a server")
async def get_server(server_id: UUID, actor: Caller, use: UseCases) -> ServerOut:
    return ServerOut.of(await use.servers.get(actor, server_id))


@servers.patch("/{server_id}", response_model=ServerOut, summary="Change a server")
async def update_server(server_id: UUID, body: ServerUpdate, actor: Caller, use: UseCases) -> ServerOut:
    # Where null means something (no warmup, no identity), an omitted field must stay apart from null.
    given = body.model_fields_set
    identity: dict[str, Any] | None | Unchanged = UNCHANGED
    if "identity" in given:
        identity = body.identity.model_dump(exclude_unset=True) if body.identity else None
    server = await use.servers.update(
        actor,
        server_id,
        name=body.name,
        settings=body.settings,
        limits=body.limits,
        warmup=body.warmup if "warmup" in given else UNCHANGED,
        destination_rules=body.destination_rules,
        identity=identity,
        bounce_handling=body.bounce_handling,
    )
    return ServerOut.managed(server)


@servers.post(
    "/{server_id}/test",
    response_model=ConnectionTestOut,
    summary="Test the connection through the vendor's delivery worker",
)
async def test_server(server_id: UUID, actor: Caller, use: UseCases) -> ConnectionTestOut:
    return ConnectionTestOut.model_validate(await use.servers.test(actor, server_id))


@servers.post(
    "/{server_id}/test-send",
    response_model=TestSendOut,
    summary="Send one real message through the server",
)
async def test_send(server_id: UUID, body: TestSendRequest, actor: Caller, use: UseCases) -> TestSendOut:
    return TestSendOut.model_validate(
        await use.servers.test_send(actor, server_id, body.to, body.from_address)
    )


@servers.post(
    "/{server_id}/verify",
    response_model=ServerOut,
    summary="Check the server's identity in DNS now (DKIM, Return-Path MX, SPF, DMARC, alignment)",
    description="Looks up the records the identity needs and keeps the outcome as `identity_verification`: "
    "each check with what DNS answered and, when it failed, what to publish. A lookup that gets no answer "
    "in time is reported as `could not check`, not as a missing record. The owner or the operator only.",
    responses={
        404: {"description": "No such server, or another tenant's"},
        409: {"description": "The server has no identity, or it changed while being verified"},
    },
)
async def verify_server(server_id: UUID, actor: Caller, use: UseCases) -> ServerOut:
    return ServerOut.managed(await use.identities.verify(actor, server_id))


@servers.post(
    "/{server_id}/enable",
    response_model=ServerOut,
    summary="Enable a server that passed its test",
    responses={
        403: {"description": "The operator holds it disabled, or its type is the operator's (tenants)"},
        409: {
            "description": "Never tested, last test failed, settings changed since, or paused; or, where the "
            "operator requires verified identities, the identity's DNS checks (re-run now) failed"
        },
    },
)
async def enable_server(server_id: UUID, actor: Caller, use: UseCases) -> ServerOut:
    return ServerOut.managed(await use.servers.enable(actor, server_id))


@servers.post(
    "/{server_id}/disable",
    response_model=ServerOut,
    summary="Disable a server",
    description="The operator's disable holds the server: its owner cannot enable it until the operator does. "
    "The optional `reason` tells the owner why.",
)
async def disable_server(
    server_id: UUID, actor: Caller, use: UseCases, body: DisableRequest | None = None
) -> ServerOut:
    reason = body.reason if body else None
    if reason is not None and not actor.is_operator:
        raise InvalidInput.field("reason", "only the operator gives a reason; your own disable needs none")
    return ServerOut.managed(await use.servers.disable(actor, server_id, reason))


@servers.post(
    "/{server_id}/pause",
    response_model=ServerOut,
    summary="Pause an active server, with a reason",
    responses={409: {"description": "The server is inactive or disabled: it sends nothing to pause"}},
)
async def pause_server(server_id: UUID, body: PauseRequest, actor: Caller, use: UseCases) -> ServerOut:
    return ServerOut.managed(await use.servers.pause(actor, server_id, body.reason))


@servers.post(
    "/{server_id}/resume",
    response_model=ServerOut,
    summary="Resume a paused server",
    responses={
        403: {"description": "The operator paused the server: only the operator resumes it (tenants)"},
        409: {"description": "The server is not paused (inactive or disabled)"},
    },
)
async def resume_server(server_id: UUID, actor: Caller, use: UseCases) -> ServerOut:
    return ServerOut.managed(await use.servers.resume(actor, server_id))


@servers.delete(
    "/{server_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a server",
    description=(
        "Deletes the server and its secrets, and removes it from every plan that granted it (each such "
        "plan is announced changed). The routers drain its queue into the campaigns' other servers and "
        "the delivery workers stop consuming it.\n\n"
        "Campaign sending policies that select it are not rewritten, since a narrowed selection must "
        "never widen: the server is no longer eligible for them, and a campaign with nothing else of "
        "its selection left is stopped with an error (set a new policy, then resume it).\n\n"
        "The operator may delete any server, a tenant its own only: a pool server its plan grants is "
        "a 403, another tenant's server a 404."
    ),
)
async def delete_server(server_id: UUID, actor: Caller, use: UseCases) -> None:
    await use.servers.delete(actor, server_id)


@pool.get("", response_model=PoolOut, summary="The whole pool: counts per state and owner, and its summary")
async def pool_view(use: UseCases) -> PoolOut:
    return PoolOut.model_validate(await use.views.pool())


_CAMPAIGN_OWNER_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such campaign, or another tenant's (the scheduler says who owns it)"},
    503: {"description": "The scheduler could not confirm who owns the campaign; nothing was changed"},
}


@policies.put(
    "",
    response_model=SendingPolicy,
    summary="Set a campaign's sending servers",
    description="A campaign's policy is its owner's: a tenant sets it for its own campaigns, the operator "
    "for any, and the scheduler is asked who owns the campaign before anything is stored.",
    responses=_CAMPAIGN_OWNER_RESPONSES,
)
async def put_policy(campaign_id: UUID, body: PolicyUpdate, actor: Caller, use: UseCases) -> SendingPolicy:
    return await use.policies.put(actor, campaign_id, use_all=body.use_all, selection=body.selection)


@policies.get(
    "",
    response_model=SendingPolicy,
    summary="Read a campaign's sending servers (default: use all)",
    responses=_CAMPAIGN_OWNER_RESPONSES,
)
async def get_policy(campaign_id: UUID, actor: Caller, use: UseCases) -> SendingPolicy:
    return await use.policies.get(actor, campaign_id)


def create_http_api(
    settings: CatalogSettings, use_cases: CatalogUseCases, revoked_tokens: RevokedTokens
) -> FastAPI:
    """The FastAPI app, serving `use_cases` (their adapters reach the database when a request comes);
    tenant tokens in `revoked_tokens` are refused."""
    api = FastAPI(
        title="sendpool catalog",
        summary="Tenants, plans, sending servers and campaign sending policies.",
        version="1",
        openapi_tags=[
            {"name": "tenants", "description": "Operator only: tenants."},
            {
                "name": "tokens",
                "description": "Tenants' API tokens: issued by the operator, listed and revoked by the "
                "operator or the tenant itself.",
            },
            {"name": "plans", "description": "Operator only: which pool servers tenants may use."},
            {"name": "server types", "description": "The kinds of server and their settings forms."},
            {"name": "servers", "description": "Sending servers; secrets are write-only."},
            {"name": "pool", "description": "Operator only: the whole pool at a glance."},
            {
                "name": "sending policies",
                "description": "Tenant only: which servers a campaign sends through.",
            },
        ],
    )
    api.state.settings = settings
    api.state.use_cases = use_cases
    api.state.revoked_tokens = revoked_tokens
    for router in (tenants, tokens, plans, server_types, servers, pool, policies):
        api.include_router(router)
    install_error_handlers(api)
    install_body_limit(api, settings.http_max_body_bytes)
    return api
