"""The scheduler's HTTP API: each route checks the caller, calls one use case and shapes the answer."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status

from services.scheduler.app.campaigns import Campaigns
from services.scheduler.app.control import CampaignControl
from services.scheduler.app.lists import RecipientLists
from services.scheduler.domain.campaign import CampaignState
from services.scheduler.domain.paging import CURSOR_MAX, PAGE_MAX
from services.scheduler.domain.recipients import NewRecipient
from services.scheduler.entrypoints.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPageOut,
    CampaignProgressOut,
    CampaignReportOut,
    CancelIn,
    ImportReportOut,
    LaunchIn,
    LaunchOut,
    ListIn,
    ListOut,
    ListPageOut,
    RecipientPageOut,
    RecipientsAddedOut,
    RecipientsIn,
)
from services.scheduler.settings import SchedulerSettings
from shared.auth import Principal, RevokedTokens, app_token_secrets, principal_dependency
from shared.errors import Forbidden
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit

Caller = Annotated[Principal, Depends(principal_dependency(app_token_secrets))]


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


def _control(request: Request) -> CampaignControl:
    control: CampaignControl = request.app.state.control
    return control


Lists = Annotated[RecipientLists, Depends(_lists)]
Control = Annotated[CampaignControl, Depends(_control)]
CampaignUseCases = Annotated[Campaigns, Depends(_campaigns)]

router = APIRouter()


@router.post("/lists", status_code=status.HTTP_201_CREATED)
async def create_list(body: ListIn, tenant_id: ActingTenant, lists: Lists) -> ListOut:
    return ListOut.of(await lists.create(tenant_id, body.name))


@router.post("/lists/{list_id}/recipients")
async def add_recipients(
    list_id: UUID, body: RecipientsIn, tenant_id: ActingTenant, lists: Lists
) -> RecipientsAddedOut:
    recipients = [
        NewRecipient(email=recipient.email, name=recipient.name, fields=recipient.fields)
        for recipient in body.recipients
    ]
    return RecipientsAddedOut.of(await lists.add_recipients(tenant_id, list_id, recipients))


@router.get("/lists")
async def list_lists(
    tenant_id: ActingTenant,
    lists: Lists,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=CURSOR_MAX, description="next_cursor of the page before")
    ] = None,
) -> ListPageOut:
    return ListPageOut.of(await lists.page(tenant_id, limit=limit, cursor=cursor))


@router.get("/lists/{list_id}")
async def get_list(list_id: UUID, tenant_id: ActingTenant, lists: Lists) -> ListOut:
    return ListOut.of(await lists.get(tenant_id, list_id))


@router.get("/lists/{list_id}/recipients")
async def list_recipients(
    list_id: UUID,
    tenant_id: ActingTenant,
    lists: Lists,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=CURSOR_MAX, description="next_cursor of the page before")
    ] = None,
) -> RecipientPageOut:
    return RecipientPageOut.of(await lists.recipients(tenant_id, list_id, limit=limit, cursor=cursor))


@router.delete("/lists/{list_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_list(list_id: UUID, tenant_id: ActingTenant, lists: Lists) -> None:
    await lists.delete(tenant_id, list_id)


CSV_MEDIA_TYPES = {"text/csv", "application/csv"}
CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "UTF-8 CSV: a header row with an `email` column (any case), an optional `name` column, "
        "and custom fields (identifiers) in the other columns.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.post("/lists/{list_id}/imports", status_code=status.HTTP_201_CREATED, openapi_extra=CSV_BODY)
async def import_recipients(
    list_id: UUID, request: Request, tenant_id: ActingTenant, lists: Lists
) -> ImportReportOut:
    """Streams the CSV body into the list (never held whole) and answers with the import's report."""
    media_type, _, parameters = request.headers.get("content-type", "").partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"')
    if media_type.strip().lower() not in CSV_MEDIA_TYPES or charset not in {"", "utf-8", "utf8"}:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the file as text/csv, in UTF-8 (charset=utf-8)"
        )
    return ImportReportOut.of(await lists.import_csv(tenant_id, list_id, request.stream()))


@router.get("/lists/{list_id}/imports/{import_id}")
async def get_import(
    list_id: UUID, import_id: UUID, tenant_id: ActingTenant, lists: Lists
) -> ImportReportOut:
    return ImportReportOut.of(await lists.find_import(tenant_id, list_id, import_id))


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
async def create_campaign(
    body: CampaignIn, tenant_id: ActingTenant, campaigns: CampaignUseCases
) -> CampaignOut:
    campaign = await campaigns.create(tenant_id, body.name, body.list_id, body.content.as_contract())
    return CampaignOut.of(campaign)


@router.get("/campaigns")
async def list_campaigns(
    tenant_id: ActingTenant,
    control: Control,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=CURSOR_MAX, description="next_cursor of the page before")
    ] = None,
    state: CampaignState | None = None,
) -> CampaignPageOut:
    """The tenant's campaigns, newest first, a page at a time; `state` keeps those in that state."""
    return CampaignPageOut.of(await control.list(tenant_id, limit=limit, cursor=cursor, state=state))


@router.post("/campaigns/{campaign_id}/launch", status_code=status.HTTP_202_ACCEPTED)
async def launch_campaign(
    campaign_id: UUID, tenant_id: ActingTenant, control: Control, body: LaunchIn | None = None
) -> LaunchOut:
    """Starts the campaign now, or with a body schedules it for `send_at`. Its From must be one of its
    servers' identity domains (422 on `content.from_address`); 503 when the catalog cannot say."""
    send_at, time_zone = (body.send_at, body.time_zone) if body else (None, None)
    return LaunchOut.of(await control.launch(tenant_id, campaign_id, send_at=send_at, time_zone=time_zone))


@router.post("/campaigns/{campaign_id}/pause", status_code=status.HTTP_202_ACCEPTED)
async def pause_campaign(campaign_id: UUID, tenant_id: ActingTenant, control: Control) -> CampaignOut:
    """A running campaign stops expanding after the batch in hand; what is queued is held."""
    return CampaignOut.of(await control.pause(tenant_id, campaign_id))


@router.post("/campaigns/{campaign_id}/resume", status_code=status.HTTP_202_ACCEPTED)
async def resume_campaign(campaign_id: UUID, tenant_id: ActingTenant, control: Control) -> CampaignOut:
    """A paused or stopped campaign runs again from where it stopped."""
    return CampaignOut.of(await control.resume(tenant_id, campaign_id))


@router.post("/campaigns/{campaign_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_campaign(
    campaign_id: UUID, tenant_id: ActingTenant, control: Control, body: CancelIn | None = None
) -> CampaignOut:
    """Ends a scheduled, running, paused or stopped campaign for good: every message not yet final
    becomes `cancelled`; recipients not yet published never are."""
    return CampaignOut.of(await control.cancel(tenant_id, campaign_id, body.reason if body else None))


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: UUID, caller: Caller, campaigns: CampaignUseCases) -> CampaignReportOut:
    # The operator follows every tenant's campaigns; a tenant sees only its own.
    return CampaignReportOut.of(await campaigns.report(campaign_id, caller.tenant_id))


@router.get("/campaigns/{campaign_id}/definition")
async def get_campaign_definition(
    campaign_id: UUID, tenant_id: ActingTenant, campaigns: CampaignUseCases
) -> CampaignOut:
    """The campaign as created: its list, content and schedule, as `POST /campaigns` answered (its counts
    are at `GET /campaigns/{id}`). A tenant's own campaigns only; another's is a 404."""
    return CampaignOut.of(await campaigns.definition(campaign_id, tenant_id))


@router.get("/campaigns/{campaign_id}/progress")
async def get_campaign_progress(
    campaign_id: UUID, caller: Caller, campaigns: CampaignUseCases
) -> CampaignProgressOut:
    """Counts per state and per server, send rate and estimated completion (what `sendpool campaigns progress` shows)."""
    return CampaignProgressOut.of(await campaigns.report(campaign_id, caller.tenant_id))


def create_http_api(
    settings: SchedulerSettings,
    lists: RecipientLists,
    campaigns: Campaigns,
    revoked_tokens: RevokedTokens,
    control: CampaignControl,
) -> FastAPI:
    """The API; tenant tokens in `revoked_tokens` are refused."""
    api = FastAPI(title="sendpool scheduler", summary="Recipient lists and campaigns")
    api.state.settings = settings
    api.state.revoked_tokens = revoked_tokens
    api.state.lists = lists
    api.state.campaigns = campaigns
    api.state.control = control
    api.include_router(router)
    install_error_handlers(api)
    install_body_limit(
        api,
        settings.http_max_body_bytes,
        larger={
            r"/lists/[^/]+/recipients": settings.recipients_max_body_bytes,
            r"/lists/[^/]+/imports": settings.import_max_bytes,
        },
    )
    return api
