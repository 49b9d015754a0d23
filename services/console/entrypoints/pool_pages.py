"""The pool at a glance: `/` (and `/servers`, the same list under its own name)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.app.pool import SERVER_STATES, ServerFilters, load_pool
from services.console.entrypoints.web import CurrentSession, Services, fragment, is_htmx, page

router = APIRouter()


@router.get("/")
async def pool_page(
    request: Request,
    session: CurrentSession,
    apis: Services,
    q: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[list[str], Query(max_length=len(SERVER_STATES))] = [],  # noqa: B006 (FastAPI copies it)
    type: Annotated[list[str], Query(max_length=50)] = [],  # noqa: B006
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    filters = ServerFilters(
        text=(q or "").strip() or None,
        states=tuple(value for value in state if value in SERVER_STATES),
        types=tuple(value for value in type if value),
        offset=offset,
    )
    view = await load_pool(apis, session, filters, page_size=request.app.state.settings.page_size)
    if is_htmx(request) and request.headers.get("HX-Target") == "server-list":
        return fragment(request, "partials/server_list.html", view=view, states=SERVER_STATES)
    return page(request, "pool.html", view=view, states=SERVER_STATES)
