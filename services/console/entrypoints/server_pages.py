"""Server pages: `/servers/new` (the type picker), `/servers/new/{type}` (the generated form),
`/servers/{id}` (every section) with its actions, `/servers/{id}/edit` and `/servers/{id}/delete`.

Actions post plainly and work without JavaScript (a 303 back to the page, or the page again with
the outcome); htmx posts them too and swaps in the state and actions section only.
"""

from collections.abc import Awaitable
from typing import TypeVar
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.app import servers
from services.console.app.servers import NoSuchPage, form_values, server_uuid
from services.console.entrypoints.web import (
    CheckedForm,
    CurrentSession,
    PageError,
    Services,
    fragment,
    is_htmx,
    page,
    see_other,
)

router = APIRouter()
T = TypeVar("T")


async def _found(call: Awaitable[T]) -> T:
    try:
        return await call
    except NoSuchPage as missing:
        raise PageError(404, f"Not found: {missing}.") from None


@router.get("/servers/new")
async def type_picker(request: Request, session: CurrentSession, apis: Services) -> Response:
    cards = await servers.type_cards(apis, session)
    return page(request, "servers/new.html", cards=cards)


@router.get("/servers/new/{type_name}")
async def new_server(request: Request, type_name: str, session: CurrentSession, apis: Services) -> Response:
    view = await _found(servers.new_server_form(apis, session, type_name))
    return page(request, "servers/form.html", view=view)


@router.post("/servers/new/{type_name}")
async def create_server(
    request: Request, type_name: str, session: CurrentSession, apis: Services, form: CheckedForm
) -> Response:
    created = await _found(servers.create_server(apis, session, type_name, form_values(form)))
    if created.server_id is not None:
        return see_other(f"/servers/{created.server_id}")
    return page(request, "servers/form.html", view=created.form, status_code=422)


@router.get("/servers/{server_id}")
async def server_detail(
    request: Request, server_id: str, session: CurrentSession, apis: Services
) -> Response:
    detail = await _found(servers.load_server(apis, session, server_uuid_or_404(server_id)))
    return page(request, "servers/detail.html", detail=detail)


@router.get("/servers/{server_id}/edit")
async def edit_server(request: Request, server_id: str, session: CurrentSession, apis: Services) -> Response:
    view = await _found(servers.edit_form(apis, session, server_uuid_or_404(server_id)))
    return page(request, "servers/form.html", view=view)


@router.post("/servers/{server_id}/edit")
async def save_server(
    request: Request, server_id: str, session: CurrentSession, apis: Services, form: CheckedForm
) -> Response:
    server = server_uuid_or_404(server_id)
    view = await _found(servers.save_edit(apis, session, server, form_values(form)))
    if view is None:
        return see_other(f"/servers/{server}")
    return page(request, "servers/form.html", view=view, status_code=422)


@router.get("/servers/{server_id}/delete")
async def confirm_delete(
    request: Request, server_id: str, session: CurrentSession, apis: Services
) -> Response:
    detail = await _found(servers.load_server(apis, session, server_uuid_or_404(server_id)))
    return page(request, "servers/delete.html", detail=detail)


@router.post("/servers/{server_id}/delete")
async def delete_server(
    request: Request, server_id: str, session: CurrentSession, apis: Services, form: CheckedForm
) -> Response:
    await servers.delete_server(apis, session, server_uuid_or_404(server_id))
    return see_other("/")


@router.post("/servers/{server_id}/{action}")
async def server_action(
    request: Request, server_id: str, action: str, session: CurrentSession, apis: Services, form: CheckedForm
) -> Response:
    server = server_uuid_or_404(server_id)
    outcome = await _found(servers.run_action(apis, session, server, action, form_values(form)))
    if is_htmx(request):
        template = "partials/server_identity.html" if action == "verify" else "partials/server_state.html"
        return fragment(request, template, detail=outcome.detail)
    if outcome.succeeded and action in servers.REDIRECT_ON_SUCCESS:
        return see_other(f"/servers/{server}")
    return page(request, "servers/detail.html", detail=outcome.detail)


def server_uuid_or_404(text: str) -> UUID:
    try:
        return server_uuid(text)
    except NoSuchPage as missing:
        raise PageError(404, f"Not found: {missing}.") from None
