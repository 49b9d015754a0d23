"""The webhooks API: a tenant's endpoints, their delivery log and replays. Each route checks the
caller, calls one use case and shapes the answer; another tenant's endpoint is a 404."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status

from services.webhooks.app.endpoints import Endpoints
from services.webhooks.entrypoints.schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecretOut,
    ReplayIn,
    ReplayOut,
)
from services.webhooks.settings import WebhooksSettings
from shared.auth import Principal, RevokedTokens, app_token_secrets, principal_dependency
from shared.errors import Forbidden
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit

ROW_ID_MAX = 2**63 - 1


Caller = Annotated[Principal, Depends(principal_dependency(app_token_secrets))]


def _acting_tenant(caller: Caller) -> UUID:
    if caller.tenant_id is None:
        raise Forbidden("webhook endpoints belong to a tenant: call this with the tenant's token")
    return caller.tenant_id


ActingTenant = Annotated[UUID, Depends(_acting_tenant)]


def _endpoints(request: Request) -> Endpoints:
    endpoints: Endpoints = request.app.state.endpoints
    return endpoints


UseCases = Annotated[Endpoints, Depends(_endpoints)]

router = APIRouter(prefix="/webhooks/endpoints", tags=["webhooks"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_endpoint(body: EndpointIn, tenant_id: ActingTenant, use: UseCases) -> EndpointWithSecretOut:
    types = [str(event_type) for event_type in body.event_types] if body.event_types is not None else None
    return EndpointWithSecretOut.of_new(await use.create(tenant_id, body.url, types, body.description))


@router.get("")
async def list_endpoints(tenant_id: ActingTenant, use: UseCases) -> EndpointList:
    return EndpointList(items=[EndpointOut.of(endpoint) for endpoint in await use.of_tenant(tenant_id)])


@router.get("/{endpoint_id}")
async def get_endpoint(endpoint_id: UUID, tenant_id: ActingTenant, use: UseCases) -> EndpointOut:
    return EndpointOut.of(await use.get(tenant_id, endpoint_id))


@router.patch("/{endpoint_id}")
async def update_endpoint(
    endpoint_id: UUID, body: EndpointPatch, tenant_id: ActingTenant, use: UseCases
) -> EndpointOut:
    changes = body.model_dump(exclude_unset=True)
    for required in ("url", "description", "enabled"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    if changes.get("event_types") is not None:
        changes["event_types"] = [str(event_type) for event_type in changes["event_types"]]
    return EndpointOut.of(await use.update(tenant_id, endpoint_id, changes))


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(endpoint_id: UUID, tenant_id: ActingTenant, use: UseCases) -> Response:
    await use.delete(tenant_id, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/rotate-secret")
async def rotate_secret(endpoint_id: UUID, tenant_id: ActingTenant, use: UseCases) -> EndpointWithSecretOut:
    return EndpointWithSecretOut.of_new(await use.rotate_secret(tenant_id, endpoint_id))


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: UUID,
    tenant_id: ActingTenant,
    use: UseCases,
    before: Annotated[
        int | None, Query(ge=1, le=ROW_ID_MAX, description="The `next` of the last page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPage:
    rows = await use.deliveries(tenant_id, endpoint_id, before=before, limit=limit)
    items = [DeliveryOut(**row) for row in rows]
    return DeliveryPage(items=items, next=items[-1].id if len(items) == limit else None)


@router.post("/{endpoint_id}/replay", status_code=status.HTTP_202_ACCEPTED)
async def replay(endpoint_id: UUID, body: ReplayIn, tenant_id: ActingTenant, use: UseCases) -> ReplayOut:
    return ReplayOut(queued=await use.replay(tenant_id, endpoint_id, body.start, body.end))


def create_http_api(
    settings: WebhooksSettings, endpoints: Endpoints, revoked_tokens: RevokedTokens
) -> FastAPI:
    """The API; tenant tokens in `revoked_tokens` are refused."""
    api = FastAPI(
        title="sendpool webhooks", summary="Tenants' webhook endpoints, their delivery log and replays"
    )
    api.state.settings = settings
    api.state.revoked_tokens = revoked_tokens
    api.state.endpoints = endpoints
    api.include_router(router)
    install_error_handlers(api)
    install_body_limit(api, settings.http_max_body_bytes)
    return api
