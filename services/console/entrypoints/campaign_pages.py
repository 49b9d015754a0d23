"""A tenant's campaigns: `/campaigns`, one campaign's page with its sending policy editor, dry run,
actions (launch, pause, resume, cancel) and live progress (`/campaigns/{id}/progress`, polled)."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.console.app.campaigns import (
    ActionRefused,
    CampaignView,
    act_on_campaign,
    create_campaign,
    list_campaigns,
    load_campaign,
    load_progress,
    new_campaign,
    policy_from_form,
    run_dry_run,
    save_policy,
)
from services.console.app.servers import form_values
from services.console.domain.policy import PolicyForm
from services.console.domain.progress import available_actions
from services.console.entrypoints.web import (
    CheckedForm,
    PageError,
    Services,
    TenantSession,
    fragment,
    is_htmx,
    page,
    see_other,
    templates,
)

router = APIRouter()
templates.env.globals["available_actions"] = available_actions

Action = Literal["launch", "pause", "resume", "cancel"]
WEIGHT_PREFIX = "weight-"
DRY_RUN_MAX = 100_000_000


def _weights(form: FormData) -> dict[str, str]:
    return {
        key.removeprefix(WEIGHT_PREFIX): str(value)
        for key, value in form.multi_items()
        if key.startswith(WEIGHT_PREFIX)
    }


def _policy(form: FormData, *, strict: bool) -> PolicyForm:
    return policy_from_form(str(form.get("use") or "all"), _weights(form), strict=strict)


@router.get("/campaigns")
async def campaigns_page(
    request: Request,
    session: TenantSession,
    apis: Services,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    listed = await list_campaigns(apis, session, cursor=cursor, limit=request.app.state.settings.page_size)
    return page(request, "campaigns/list.html", listed=listed)


# Before `/campaigns/{campaign_id}`, which would take `new` for an id.
@router.get("/campaigns/new")
async def new_campaign_page(request: Request, session: TenantSession, apis: Services) -> Response:
    return page(request, "campaigns/new.html", view=await new_campaign(apis, session))


@router.post("/campaigns/new")
async def new_campaign_submit(
    request: Request, session: TenantSession, apis: Services, form: CheckedForm
) -> Response:
    view = await create_campaign(apis, session, form_values(form))
    if view.created_id is not None:
        return see_other(f"/campaigns/{view.created_id}")
    return page(request, "campaigns/new.html", status_code=422, view=view)


def _campaign_page(
    request: Request, view: CampaignView, *, status_code: int = 200, **context: object
) -> Response:
    return page(request, "campaigns/detail.html", status_code=status_code, view=view, **context)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: UUID,
    session: TenantSession,
    apis: Services,
    saved: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    view = await load_campaign(apis, session, str(campaign_id))
    return _campaign_page(request, view, saved=saved == "policy")


@router.get("/campaigns/{campaign_id}/progress")
async def campaign_progress(
    request: Request,
    campaign_id: UUID,
    session: TenantSession,
    apis: Services,
    seen: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if not is_htmx(request):
        return see_other(f"/campaigns/{campaign_id}#progress")
    progress = await load_progress(apis, session, str(campaign_id))
    return fragment(
        request,
        "partials/campaign_progress.html",
        campaign_id=str(campaign_id),
        progress=progress,
        changed=seen is not None and seen != progress.state,
    )


@router.post("/campaigns/{campaign_id}/policy/preview")
async def policy_preview(
    request: Request, campaign_id: UUID, _session: TenantSession, form: CheckedForm
) -> Response:
    policy = _policy(form, strict=False)
    return fragment(request, "partials/policy_shares.html", policy=policy)


@router.post("/campaigns/{campaign_id}/policy")
async def policy_save(
    request: Request, campaign_id: UUID, session: TenantSession, apis: Services, form: CheckedForm
) -> Response:
    submitted = _policy(form, strict=True)
    policy = await save_policy(apis, session, str(campaign_id), submitted)
    if policy.valid and not is_htmx(request):
        return see_other(f"/campaigns/{campaign_id}?saved=policy#policy")
    view = await load_campaign(apis, session, str(campaign_id), policy=None if policy.valid else policy)
    status = 200 if policy.valid else 422
    if is_htmx(request):
        return fragment(request, "partials/policy_editor.html", view=view, saved=policy.valid)
    return _campaign_page(request, view, status_code=status)


@router.post("/campaigns/{campaign_id}/dry-run")
async def dry_run(
    request: Request, campaign_id: UUID, session: TenantSession, apis: Services, form: CheckedForm
) -> Response:
    raw = str(form.get("messages") or "").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= DRY_RUN_MAX:
        raise PageError(422, f"Messages to simulate: enter a whole number from 1 to {DRY_RUN_MAX:,}.")
    result = await run_dry_run(apis, session, str(campaign_id), int(raw))
    if is_htmx(request):
        return fragment(request, "partials/dry_run.html", dry_run=result)
    view = await load_campaign(apis, session, str(campaign_id))
    return _campaign_page(request, view, dry_run=result)


# Last: its `{action}` would otherwise take the paths above (FastAPI does not fall through).
@router.post("/campaigns/{campaign_id}/{action}")
async def campaign_action(
    request: Request,
    campaign_id: UUID,
    action: Action,
    session: TenantSession,
    apis: Services,
    _: CheckedForm,
) -> Response:
    error: str | None = None
    try:
        await act_on_campaign(apis, session, str(campaign_id), action)
    except ActionRefused as refused:
        error = refused.message
    if error is None and not is_htmx(request):
        return see_other(f"/campaigns/{campaign_id}")
    view = await load_campaign(apis, session, str(campaign_id))
    status = 409 if error else 200
    if is_htmx(request):
        # A refusal is swapped in like a success: the region says why (status 200 keeps htmx swapping).
        return fragment(
            request, "partials/campaign_control.html", view=view, action_error=error, swap_out_of_band=True
        )
    return _campaign_page(request, view, status_code=status, action_error=error)
