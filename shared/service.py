"""The process shape every service shares: a FastStream app served over ASGI.

Every service answers `/healthz` (liveness: the broker connection is alive), `/readyz`
(readiness: its database answers and its broker connection is open; `shared.readiness`) for
Kubernetes probes and `/metrics` (Prometheus, `shared.metrics`) for scraping; services with an
HTTP API (catalog, scheduler, router) serve their FastAPI app on the same port.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI
from faststream.asgi import AsgiFastStream, make_ping_asgi
from faststream.rabbit import RabbitBroker

from shared import metrics
from shared.db import Database
from shared.readiness import DatabaseCheck, Readiness, ReadinessCheck, broker_check


class ServiceRuntime(Protocol):
    """What a service's composition root (`services/<svc>/bootstrap.py`) builds, and the process runs.

    The hooks run in this order: `open` before the broker consumes (the database, the topology its
    handlers publish to), `start` once it consumes (relays, sweepers, snapshots), `stop` when the
    process is asked to stop (before the broker drains its messages in hand), `close` after that.
    """

    @property
    def broker(self) -> RabbitBroker: ...

    @property
    def database(self) -> Database: ...

    @property
    def http_api(self) -> FastAPI | None: ...

    async def open(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def close(self) -> None: ...


class ServiceApp(AsgiFastStream):
    """AsgiFastStream matches paths exactly; everything it does not know goes to the FastAPI app.

    `database_url` is the database `/readyz` checks (without it, only the broker counts);
    `readiness_checks` adds checks of other dependencies, by the name `/readyz` reports them under.
    """

    def __init__(
        self,
        broker: RabbitBroker,
        *,
        http_api: FastAPI | None = None,
        database_url: str | None = None,
        readiness_checks: Mapping[str, ReadinessCheck] | None = None,
        **kwargs: Any,
    ) -> None:
        checks: dict[str, ReadinessCheck] = {"broker": broker_check(broker)}
        if database_url is not None:
            checks["database"] = DatabaseCheck(database_url)
        checks.update(readiness_checks or {})
        self.readiness = Readiness(checks)
        routes: Sequence[tuple[str, Any]] = [
            ("/healthz", make_ping_asgi(broker, timeout=5.0)),
            ("/readyz", self.readiness.asgi()),
            ("/metrics", metrics.metrics_app()),
        ]
        # The check's own database connection closes with the service, after everything else.
        kwargs["after_shutdown"] = [*kwargs.get("after_shutdown", ()), self.readiness.close]
        super().__init__(broker, asgi_routes=routes, **kwargs)
        self.http_api = http_api

    @classmethod
    def of(cls, runtime: ServiceRuntime) -> "ServiceApp":
        """The process of a service: its runtime's hooks on the app's lifecycle, `/readyz` on its database."""
        return cls(
            runtime.broker,
            database_url=runtime.database.url,
            http_api=runtime.http_api,
            on_startup=[runtime.open],
            after_startup=[runtime.start],
            on_shutdown=[runtime.stop],
            after_shutdown=[runtime.close],
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        known = scope["type"] != "http" or any(scope["path"] == path for path, _ in self.routes)
        if self.http_api is not None and not known:
            await self.http_api(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
