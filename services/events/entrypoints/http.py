"""The events service's HTTP API: the per-message timeline and a campaign's events, from the event log.

A tenant reads its own events only: another tenant's message or campaign is not found (404), as one
that does not exist. The operator reads every tenant's. Events are returned as they were published.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.events.app.timelines import Timelines
from services.events.domain.cursor import CURSOR_MAX_LENGTH, decode_cursor
from services.events.entrypoints.schemas import CampaignEventsPage, MessageTimelineOut
from services.events.settings import EventsSettings
from shared.auth import Principal, RevokedTokens, app_token_secrets, principal_dependency
from shared.errors import InvalidInput
from shared.events import EventType
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit
from shared.limits import EMAIL_ADDRESS_MAX

PAGE_MAX = 1000


Caller = Annotated[Principal, Depends(principal_dependency(app_token_secrets))]


def _timelines(request: Request) -> Timelines:
    timelines: Timelines = request.app.state.timelines
    return timelines


TimelineReads = Annotated[Timelines, Depends(_timelines)]

router = APIRouter(tags=["events"])


@router.get("/messages/{message_id}/events", response_model=MessageTimelineOut)
async def message_events(message_id: UUID, caller: Caller, timelines: TimelineReads) -> JSONResponse:
    """The message's timeline: routed where and why (`details.decision`), each attempt, its outcome, a
    bounce or complaint. 404 for a message without events, or another tenant's."""
    events = await timelines.of_message(message_id, caller.tenant_id)
    return JSONResponse({"message_id": str(message_id), "events": events})


@router.get("/campaigns/{campaign_id}/events", response_model=CampaignEventsPage)
async def campaign_events(
    campaign_id: UUID,
    caller: Caller,
    timelines: TimelineReads,
    recipient: Annotated[
        str | None,
        Query(min_length=1, max_length=EMAIL_ADDRESS_MAX, description="One recipient's timeline (any case)."),
    ] = None,
    type: Annotated[EventType | None, Query(description="Events of this type only.")] = None,  # noqa: A002 - the API's name
    after: Annotated[
        str | None, Query(max_length=CURSOR_MAX_LENGTH, description="The `next` of the page before.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
) -> JSONResponse:
    """The campaign's events (or one recipient's), oldest first, a page at a time. 404 for a campaign
    without events, or another tenant's."""
    try:
        position = None if after is None else decode_cursor(after)
    except ValueError as wrong:
        raise InvalidInput.field("after", str(wrong), location="query") from None
    page = await timelines.of_campaign(
        campaign_id,
        caller.tenant_id,
        recipient=recipient,
        event_type=None if type is None else type.value,
        after=position,
        limit=limit,
    )
    return JSONResponse({"campaign_id": str(campaign_id), "events": page.events, "next": page.next})


def create_http_api(settings: EventsSettings, timelines: Timelines, revoked_tokens: RevokedTokens) -> FastAPI:
    """The API; tenant tokens in `revoked_tokens` are refused."""
    api = FastAPI(title="sendpool events", summary="Per-message timelines and campaign events")
    api.state.settings = settings
    api.state.revoked_tokens = revoked_tokens
    api.state.timelines = timelines
    api.include_router(router)
    install_error_handlers(api)
    install_body_limit(api, settings.http_max_body_bytes)
    return api
