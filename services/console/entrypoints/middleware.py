"""Around every request: the session from its cookie, the security headers, and the timings.

`Server-Timing` says how long the console took (`app`) and how much of that was waiting for the
services' APIs (`upstream`), so the page budget (200 ms with 1,000 servers) can be read off any
response in a browser's developer tools, and `tools/console_bench.py` reads it the same way.
"""

import time

from prometheus_client import Histogram
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.adapters.service_apis import UPSTREAM_SECONDS
from services.console.adapters.session_cookie import COOKIE_NAME, SessionCookies
from shared.metrics import REGISTRY

PAGE_SECONDS = Histogram(
    "sendpool_console_request_seconds",
    "Time the console took to answer a request, by route (its template, never an id) and status class.",
    ["route", "method", "status"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30),
)

# No inline script or style anywhere: htmx is told not to add its indicator style (base.html).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    # Pages show what one token may see: no shared cache keeps them.
    "cache-control": "no-store",
}
UNTIMED = {"/healthz", "/readyz", "/metrics"}


class ConsoleMiddleware:
    def __init__(self, app: ASGIApp, cookies: SessionCookies) -> None:
        self.app = app
        self.cookies = cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        scope.setdefault("state", {})["session"] = self.cookies.open(connection.cookies.get(COOKIE_NAME))
        upstream: list[float] = []
        reset = UPSTREAM_SECONDS.set(upstream)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers or name == "content-security-policy":
                        headers[name] = value
                if not scope["path"].startswith("/static/"):
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    headers["server-timing"] = (
                        f'app;dur={elapsed_ms:.1f}, upstream;dur={sum(upstream) * 1000:.1f};desc="{len(upstream)} calls"'
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            UPSTREAM_SECONDS.reset(reset)
            if scope["path"] not in UNTIMED:
                PAGE_SECONDS.labels(_route_of(scope), scope["method"], f"{status['code'] // 100}xx").observe(
                    time.perf_counter() - started
                )


def _route_of(scope: Scope) -> str:
    """The matched route's template (`/servers/{server_id}`): bounded, unlike paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    return "/static" if scope["path"].startswith("/static/") else "unmatched"
