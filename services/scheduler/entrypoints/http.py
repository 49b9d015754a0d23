"""The scheduler's HTTP API: each route checks the caller, calls one use case and shapes the answer."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request, status

from services.scheduler.app.campaigns import Campaigns
from services.scheduler.app.lists import RecipientLists
from services.scheduler.domain.recipients import NewRecipient
from services.scheduler.entrypoints.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignReportOut,
    LaunchOut,
    ListIn,
    ListOut,
    RecipientsAddedOut,
    RecipientsIn,
)
from services.scheduler.settings import SchedulerSettings
from shared.auth import Principal, RevokedTokens, principal_dependency
from shared.errors import Forbidden
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit


def _token_secrets(request: Request) -> tuple[str, str]:
    settings: SchedulerSettings = request.app.state.settings
    return settings.token_secret, settings.operator_token


Caller = Annotated[Principal, Depends(principal_dependency(_token_secrets))]


def _acting_tenant(caller: Caller) -> UUID:
    if caller.tenant_id is None:
        raise Forbidden("lists and campaigns belong to a tenant: call this with the tenant's token")
    return caller.tenant_id


ActingTenant = Annotated[UUID, Depends(_acting_tenant)]


def _lists(request: Request) -> RecipientLists:
    lists: RecipientLists = request.app.state.lists
    return lists


def _campaigns(request: Request) -> Campaigns:
    campaigns: Campaigns = request.app.state.campaigns
    return campaigns


Lists = Annotated[RecipientLists, Depends(_lists)]
CampaignUseCases = Annotated[Campaigns, Depends(_campaigns)]

router = APIRouter()


@router.post("/lists", status_code=status.HTTP_201_CREATED)
async def create_list(body: ListIn, tenant_id: ActingTenant, lists: Lists) -> ListOut:
    return ListOut.of(await lists.create(tenant_id, body.name))


@router.post("/lists/{list_id}/recipients")
async def add_recipients(
    list_id: UUID, body: RecipientsIn, tenant_id: ActingTenant, lists: Lists
) -> RecipientsAddedOut:
    recipients = [NewRecipient(email=recipient.email, name=recipient.name) for recipient in body.recipients]
    return RecipientsAddedOut.of(await lists.add_recipients(tenant_id, list_id, recipients))


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
async def create_campaign(
    body: CampaignIn, tenant_id: ActingTenant, campaigns: CampaignUseCases
) -> CampaignOut:
    campaign = await campaigns.create(tenant_id, body.name, body.list_id, body.content.as_contract())
    return CampaignOut.of(campaign)


@router.post("/campaigns/{campaign_id}/launch", status_code=status.HTTP_202_ACCEPTED)
async def launch_campaign(
    campaign_id: UUID, tenant_id: ActingTenant, campaigns: CampaignUseCases
) -> LaunchOut:
    return LaunchOut.of(await campaigns.launch(tenant_id, campaign_id))


@router.post("/campaigns/{campaign_id}/resume", status_code=status.HTTP_202_ACCEPTED)
async def resume_campaign(
    campaign_id: UUID, tenant_id: ActingTenant, campaigns: CampaignUseCases
) -> CampaignOut:
    return CampaignOut.of(await campaigns.resume(tenant_id, campaign_id))


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: UUID, caller: Caller, campaigns: CampaignUseCases) -> CampaignReportOut:
    # The operator follows every tenant's campaigns; a tenant sees only its own.
    return CampaignReportOut.of(await campaigns.report(campaign_id, caller.tenant_id))


def create_http_api(
    settings: SchedulerSettings, lists: RecipientLists, campaigns: Campaigns, revoked_tokens: RevokedTokens
) -> FastAPI:
    """The API; tenant tokens in `revoked_tokens` are refused."""
    api = FastAPI(title="sendpool scheduler", summary="Recipient lists and campaigns")
    api.state.settings = settings
    api.state.revoked_tokens = revoked_tokens
    api.state.lists = lists
    api.state.campaigns = campaigns
    api.include_router(router)
    install_error_handlers(api)
    install_body_limit(
        api,
        settings.http_max_body_bytes,
        larger={r"/lists/[^/]+/recipients": settings.recipients_max_body_bytes},
    )
    return api
