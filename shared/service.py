"""The process shape every service shares: a FastStream app served over ASGI.

Every service answers `/healthz` (the broker connection is alive) for Kubernetes probes and
`/metrics` (Prometheus, `shared.metrics`) for scraping; services with an HTTP API (catalog,
scheduler, router) serve their FastAPI app on the same port.
"""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from faststream.asgi import AsgiFastStream, make_ping_asgi
from faststream.rabbit import RabbitBroker

from shared import metrics


class ServiceApp(AsgiFastStream):
    """AsgiFastStream matches paths exactly; everything it does not know goes to the FastAPI app."""

    def __init__(self, broker: RabbitBroker, *, http_api: FastAPI | None = None, **kwargs: Any) -> None:
        routes: Sequence[tuple[str, Any]] = [
            ("/healthz", make_ping_asgi(broker, timeout=5.0)),
            ("/metrics", metrics.metrics_app()),
        ]
        super().__init__(broker, asgi_routes=routes, **kwargs)
        self.http_api = http_api

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        known = scope["type"] != "http" or any(scope["path"] == path for path, _ in self.routes)
        if self.http_api is not None and not known:
            await self.http_api(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
