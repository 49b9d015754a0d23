"""The operator's tenants and plans: `/tenants` (both lists and their creation forms), a new tenant's
token shown once, moving a tenant to a plan, and `/plans/{id}` (granting pool servers)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.app.ports import Apis
from services.console.app.tenants import (
    FormRefused,
    create_plan,
    create_tenant,
    grant_servers,
    load_plan,
    load_tenants,
    move_tenant,
    plan_body,
)
from services.console.domain.session import Session
from services.console.entrypoints.web import CheckedForm, OperatorSession, Services, page, see_other

router = APIRouter()

NOTICES = {
    "plan-created": "The plan is created.",
    "moved": "The tenant is on its new plan.",
    "granted": "The plan's pool servers are saved.",
}


@router.get("/tenants")
async def tenants_page(
    request: Request,
    session: OperatorSession,
    apis: Services,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    view = await load_tenants(apis, session)
    return page(request, "tenants/index.html", view=view, notice=NOTICES.get(done or ""))


async def _refused(request: Request, apis: Apis, session: Session, **form_state: object) -> Response:
    """The tenants page again (422), with the refused form's values and messages in `form_state`."""
    view = await load_tenants(apis, session)
    return page(request, "tenants/index.html", status_code=422, view=view, **form_state)


@router.post("/tenants")
async def tenant_create(
    request: Request, session: OperatorSession, apis: Services, form: CheckedForm
) -> Response:
    name, plan_id = str(form.get("name") or ""), str(form.get("plan_id") or "")
    try:
        created = await create_tenant(apis, session, name, plan_id)
    except FormRefused as refused:
        return await _refused(
            request,
            apis,
            session,
            tenant_errors=refused.errors,
            tenant_form={"name": name, "plan_id": plan_id},
        )
    # The token is on this page only; like every page, it is no-store (middleware.SECURITY_HEADERS).
    view = await load_tenants(apis, session)
    return page(request, "tenants/created.html", status_code=201, created=created, view=view)


@router.post("/tenants/{tenant_id}/plan")
async def tenant_move(
    request: Request, tenant_id: UUID, session: OperatorSession, apis: Services, form: CheckedForm
) -> Response:
    try:
        await move_tenant(apis, session, str(tenant_id), str(form.get("plan_id") or ""))
    except FormRefused as refused:
        return await _refused(
            request, apis, session, move_errors={str(tenant_id): "; ".join(refused.errors.values())}
        )
    return see_other("/tenants?done=moved#tenants-title")


@router.post("/plans")
async def plan_create(
    request: Request, session: OperatorSession, apis: Services, form: CheckedForm
) -> Response:
    name, quota = str(form.get("name") or ""), str(form.get("server_quota") or "")
    managed, own = form.get("managed_pool") == "on", form.get("allow_own_servers") == "on"
    submitted = {"name": name, "managed_pool": managed, "allow_own_servers": own, "server_quota": quota}
    try:
        body = plan_body(name, managed, own, quota)
        plan_id = await create_plan(apis, session, body)
    except FormRefused as refused:
        return await _refused(request, apis, session, plan_errors=refused.errors, plan_form=submitted)
    return see_other(f"/plans/{plan_id}?done=plan-created")


@router.get("/plans/{plan_id}")
async def plan_page(
    request: Request,
    plan_id: UUID,
    session: OperatorSession,
    apis: Services,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    view = await load_plan(apis, session, str(plan_id))
    return page(request, "tenants/plan.html", view=view, notice=NOTICES.get(done or ""))


@router.post("/plans/{plan_id}/servers")
async def plan_grant(
    request: Request, plan_id: UUID, session: OperatorSession, apis: Services, form: CheckedForm
) -> Response:
    server_ids = [str(value) for value in form.getlist("server_id")]
    try:
        await grant_servers(apis, session, str(plan_id), server_ids)
    except FormRefused as refused:
        view = await load_plan(apis, session, str(plan_id))
        return page(request, "tenants/plan.html", status_code=422, view=view, errors=refused.errors)
    return see_other(f"/plans/{plan_id}?done=granted")
