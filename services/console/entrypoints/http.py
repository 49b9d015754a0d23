"""The console's ASGI app: its pages, its static files, its probes, and how it answers failures."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.console.adapters.service_apis import HttpApis
from services.console.adapters.session_cookie import COOKIE_NAME, SessionCookies
from services.console.app.ports import ApiRefused, ApiUnavailable
from services.console.entrypoints import auth_pages, campaign_pages, pool_pages, server_pages, tenant_pages
from services.console.entrypoints.middleware import ConsoleMiddleware
from services.console.entrypoints.web import STATIC, PageError, SignInRequired, is_htmx, page, sign_in_url
from services.console.settings import ConsoleSettings
from shared import metrics
from shared.http_limits import install_body_limit

PAGE_MODULES = (auth_pages, pool_pages, server_pages, campaign_pages, tenant_pages)


def create_console(
    settings: ConsoleSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The console app; `transport` replaces the network under the API clients (unit tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            timeout=settings.api_timeout_seconds,
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        ) as client:
            app.state.apis = HttpApis.over(
                client,
                catalog=str(settings.catalog_url),
                scheduler=str(settings.scheduler_url),
                router=str(settings.router_url),
            )
            app.state.ready = True
            yield
            app.state.ready = False

    app = FastAPI(
        title="sendpool console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    cookies = SessionCookies(settings.session_keys, max_age_seconds=int(settings.session_hours * 3600))
    app.state.settings = settings
    app.state.cookies = cookies
    app.state.ready = False
    for module in PAGE_MODULES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_probes(app)
    _add_error_pages(app)
    # Inside the console middleware, so that a refused body's answer carries the security headers too.
    install_body_limit(app, settings.http_max_body_bytes)
    app.add_middleware(ConsoleMiddleware, cookies=cookies)
    return app


def _add_probes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(status_code=204)

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        # The console keeps no state: it is ready once its API client is. A service it calls being
        # down is shown on the pages that need it, not by taking the console out of rotation.
        ready = bool(request.app.state.ready)
        return PlainTextResponse("ready" if ready else "starting", status_code=200 if ready else 503)

    # A route, not a mount: a mount answers `/metrics` with a redirect to `/metrics/`, which a
    # scraper configured like every other service's (`/metrics`) would have to follow.
    app.router.routes.append(Route("/metrics", _AsgiEndpoint(metrics.metrics_app()), methods=["GET"]))


def _add_error_pages(app: FastAPI) -> None:
    def error_page(request: Request, status: int, title: str, message: str) -> Response:
        template = "partials/error.html" if is_htmx(request) else "error.html"
        return page(request, template, status_code=status, title=title, message=message)

    async def sign_in_required(request: Request, _: Exception) -> Response:
        target = sign_in_url(request)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiRefused)
        if exc.status == 401:
            # Expired or revoked: the cookie is of no use any more.
            target = sign_in_url(request, reason="expired")
            response: Response = (
                Response(status_code=204, headers={"HX-Redirect": target})
                if is_htmx(request)
                else RedirectResponse(target, status_code=303)
            )
            response.delete_cookie(COOKIE_NAME, path="/")
            return response
        titles = {403: "Not allowed", 404: "Not found", 409: "Not possible now", 422: "Not accepted"}
        return error_page(
            request, exc.status, titles.get(exc.status, "Refused"), f"The {exc.service} said: {exc.detail}"
        )

    async def unavailable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiUnavailable)
        return error_page(
            request,
            502,
            "A service is unavailable",
            f"The {exc.service} could not answer: {exc.reason}. Try again shortly.",
        )

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, "Not possible", exc.message)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, "Not found", "There is no such page.")
        return error_page(request, exc.status_code, "Not possible", str(exc.detail))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # Never echo the input (a form may hold a password); name the fields.
        fields = ", ".join(
            ".".join(str(part) for part in error["loc"][1:]) or "request" for error in exc.errors()
        )
        return error_page(request, 422, "Not accepted", f"Check these fields: {fields}.")

    handlers: dict[type[Exception], Callable[..., object]] = {
        SignInRequired: sign_in_required,
        ApiRefused: refused,
        ApiUnavailable: unavailable,
        PageError: page_error,
        StarletteHTTPException: not_found,
        RequestValidationError: invalid_request,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)  # type: ignore[arg-type]


class _AsgiEndpoint:
    """An ASGI app as a route's endpoint: Starlette calls an object that is not a function as ASGI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
