"""A tenant's campaigns: the list, one campaign with its sending policy, its dry run, its actions
and its live progress. Every call carries the tenant's token: the scheduler, the catalog and the
router show it only its own campaigns and the servers it may use."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.console.app.ports import ApiRefused, Apis
from services.console.domain.campaign_form import FIELDS, CampaignDraft, draft_from_form
from services.console.domain.forms import errors_by_field
from services.console.domain.policy import PolicyForm, api_field_errors, loaded_policy, parse_policy
from services.console.domain.progress import Progress, available_actions, describe_seconds, progress_of
from services.console.domain.session import Session

SERVERS_PAGE = 500
"""The catalog's largest page of servers."""
SERVER_PAGES_MAX = 20
"""At most this many pages of servers are read for one policy form (10,000 servers)."""
ACTIONS = ("launch", "pause", "resume", "cancel")


@dataclass(frozen=True)
class CampaignList:
    campaigns: list[dict[str, Any]]
    next_cursor: str | None
    cursor: str | None


async def list_campaigns(apis: Apis, session: Session, *, cursor: str | None, limit: int) -> CampaignList:
    params: dict[str, Any] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    found = await apis.scheduler.get("/campaigns", session.token, params=params)
    return CampaignList(campaigns=found["campaigns"], next_cursor=found.get("next_cursor"), cursor=cursor)


LISTS_SHOWN = 500
"""The newest lists offered by the new campaign form (the scheduler's largest page)."""


@dataclass(frozen=True)
class NewCampaign:
    lists: list[dict[str, Any]]
    draft: CampaignDraft
    loose_errors: list[str] = field(default_factory=list)
    """Refusals that name no input of the form."""
    created_id: str | None = None


async def new_campaign(apis: Apis, session: Session, draft: CampaignDraft | None = None) -> NewCampaign:
    """The form: the tenant's lists to choose from, and what was typed so far."""
    found = await apis.scheduler.get("/lists", session.token, params={"limit": LISTS_SHOWN})
    # A blank form is not yet a refused one: nothing is marked until it is sent.
    return NewCampaign(lists=found["lists"], draft=draft or CampaignDraft(values={}, errors={}))


async def create_campaign(apis: Apis, session: Session, form: Mapping[str, str]) -> NewCampaign:
    """The campaign created as a draft (`created_id`), or the form again with why not."""
    draft = draft_from_form(form)
    if draft.valid:
        try:
            created = await apis.scheduler.post("/campaigns", session.token, json=draft.body())
        except ApiRefused as refused:
            if refused.status not in (404, 422):
                raise
            # A list deleted meanwhile is the scheduler's 404 about the list.
            fields = (
                (refused.fields or {"request": refused.detail})
                if refused.status == 422
                else {"list_id": refused.detail}
            )
            errors, loose = errors_by_field(fields, FIELDS)
            view = await new_campaign(apis, session, CampaignDraft(draft.values, errors))
            return NewCampaign(view.lists, view.draft, loose_errors=loose)
        return NewCampaign([], draft, created_id=str(created["id"]))
    return await new_campaign(apis, session, draft)


async def usable_servers(apis: Apis, session: Session) -> list[dict[str, Any]]:
    """Every server the session may see (a tenant: its own and its plan's), a page of 500 at a time."""
    servers: list[dict[str, Any]] = []
    for page in range(SERVER_PAGES_MAX):
        found = await apis.catalog.get(
            "/servers", session.token, params={"limit": SERVERS_PAGE, "offset": page * SERVERS_PAGE}
        )
        servers += found["items"]
        if len(servers) >= found["total"] or not found["items"]:
            break
    return servers


async def _report(apis: Apis, session: Session, campaign_id: str) -> dict[str, Any]:
    """Where the campaign stands: its counts and state with the reason it stopped (the scheduler's
    report), and the send rate and estimated completion of its progress."""
    report: dict[str, Any] = await apis.scheduler.get(f"/campaigns/{campaign_id}", session.token)
    rates = report.get("progress") or {}
    return {
        **report,
        "send_rate_per_minute": rates.get("send_rate_per_minute", 0.0),
        "estimated_completion_at": rates.get("estimated_completion_at"),
    }


async def _campaign_out(apis: Apis, session: Session, campaign_id: str) -> dict[str, Any] | None:
    """The campaign as created (content, list, schedule): the progress report has none of it."""
    try:
        found: dict[str, Any] = await apis.scheduler.get(
            f"/campaigns/{campaign_id}/definition", session.token
        )
    except ApiRefused as refused:
        if refused.status == 404:
            return None
        raise
    return found


@dataclass(frozen=True)
class CampaignView:
    id: str
    name: str
    state: str
    campaign: dict[str, Any]
    """The scheduler's `CampaignOut` (content, list_id, send_at …); empty if it could not be found."""
    recipients: int | None
    """The list's recipients now (what a dry run simulates before launch); None if unknown."""
    servers: list[dict[str, Any]]
    policy: PolicyForm
    progress: Progress
    actions: list[str]
    server_names: dict[str, str] = field(default_factory=dict)


async def load_campaign(
    apis: Apis, session: Session, campaign_id: str, *, policy: PolicyForm | None = None
) -> CampaignView:
    """The campaign page: the report first (a 404 for another tenant's), then the rest at once.
    `policy` is a submitted form to show again (with its errors) instead of the saved policy."""
    report = await _report(apis, session, campaign_id)
    campaign, servers, saved = await asyncio.gather(
        _campaign_out(apis, session, campaign_id),
        usable_servers(apis, session),
        apis.catalog.get(f"/campaigns/{campaign_id}/sending-policy", session.token),
    )
    recipients: int | None = None
    if campaign is not None:
        try:
            listed = await apis.scheduler.get(f"/lists/{campaign['list_id']}", session.token)
            recipients = int(listed["recipient_count"])
        except ApiRefused:
            recipients = None
    names = {str(server["id"]): str(server["name"]) for server in servers}
    ids = [str(server["id"]) for server in servers]
    form = policy or loaded_policy(saved, ids)
    state = str(report["state"])
    return CampaignView(
        id=campaign_id,
        name=str(campaign["name"]) if campaign else campaign_id,
        state=state,
        campaign=campaign or {},
        recipients=recipients,
        servers=servers,
        policy=form,
        progress=progress_of(report, names),
        actions=available_actions(state),
        server_names=names,
    )


async def load_progress(apis: Apis, session: Session, campaign_id: str) -> Progress:
    report, servers = await asyncio.gather(
        _report(apis, session, campaign_id),
        usable_servers(apis, session),
    )
    return progress_of(report, {str(server["id"]): str(server["name"]) for server in servers})


class ActionRefused(Exception):
    """The scheduler refused the action (409: not from this state, 422: e.g. the From address)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def act_on_campaign(apis: Apis, session: Session, campaign_id: str, action: str) -> None:
    if action not in ACTIONS:
        raise ActionRefused(f"There is no action {action!r}.")
    try:
        await apis.scheduler.post(f"/campaigns/{campaign_id}/{action}", session.token)
    except ApiRefused as refused:
        if refused.status in (409, 422):
            # A 422's detail already names each field (`content.from_address: …`).
            raise ActionRefused(f"The scheduler refused to {action} it: {refused.detail}") from None
        raise


def policy_from_form(use: str, weights: dict[str, str], *, strict: bool = True) -> PolicyForm:
    """The submitted editor: `use` is `all` or `selection`; `weights` per server id."""
    return parse_policy(use != "selection", weights, strict=strict)


async def save_policy(apis: Apis, session: Session, campaign_id: str, form: PolicyForm) -> PolicyForm:
    """Stores a valid form; returns it with the catalog's 422 messages by field if it refused it."""
    if not form.valid:
        return form
    try:
        await apis.catalog.put(f"/campaigns/{campaign_id}/sending-policy", session.token, json=form.body())
    except ApiRefused as refused:
        if refused.status == 422:
            errors = api_field_errors(refused.fields, form) or {"selection": refused.detail}
        elif refused.status in (403, 409):
            errors = {"selection": refused.detail}
        else:
            raise
        return PolicyForm(use_all=form.use_all, raw=form.raw, weights=form.weights, errors=errors)
    return form


@dataclass(frozen=True)
class DryRunServer:
    server_id: str
    name: str
    weight: float
    expected_messages: int
    share: float
    limited: bool


@dataclass(frozen=True)
class DryRunView:
    mode: str
    messages: int
    servers: list[DryRunServer]
    excluded: list[tuple[str, str]]
    """(server name, why) of each server left out."""
    time_to_send: str
    refusal: str | None = None

    @property
    def sendable(self) -> bool:
        return bool(self.servers) and self.refusal is None


async def run_dry_run(apis: Apis, session: Session, campaign_id: str, messages: int) -> DryRunView:
    servers = await usable_servers(apis, session)
    names = {str(server["id"]): str(server["name"]) for server in servers}
    try:
        result = await apis.router.post(
            f"/campaigns/{campaign_id}/dry-run", session.token, json={"messages": messages}
        )
    except ApiRefused as refused:
        if refused.status in (404, 409, 422):
            return DryRunView("", messages, [], [], "", refusal=refused.detail)
        raise
    shown = [
        DryRunServer(
            server_id=str(item["server_id"]),
            name=names.get(str(item["server_id"]), str(item["server_id"])[:8]),
            weight=float(item["weight"]),
            expected_messages=int(item["expected_messages"]),
            share=round(100 * float(item["share"]), 1),
            limited=bool(item["limited"]),
        )
        for item in result["servers"]
    ]
    excluded = [
        (names.get(str(item["server_id"]), str(item["server_id"])[:8]), str(item["reason"]))
        for item in result["excluded"]
    ]
    refusal = (
        None
        if shown
        else "No eligible server: the campaign would stop at once. "
        + (
            "Enable a server or widen the selection."
            if not excluded
            else "Every server is excluded (see below)."
        )
    )
    return DryRunView(
        mode=str(result["mode"]),
        messages=int(result["messages"]),
        servers=shown,
        excluded=excluded,
        time_to_send=describe_seconds(result.get("seconds_to_send")),
        refusal=refusal,
    )
