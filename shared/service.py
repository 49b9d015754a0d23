"""The process shape every service shares: a FastStream app served over ASGI.

Every service answers `/healthz` (liveness: the broker connection is alive), `/readyz`
(readiness: it has finished starting, is not stopping, its database answers and its broker
connection is open; `shared.readiness`) for
Kubernetes probes and `/metrics` (Prometheus, `shared.metrics`) for scraping; services with an
HTTP API (catalog, scheduler, router) serve their FastAPI app on the same port.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI
from faststream.asgi import AsgiFastStream, make_ping_asgi
from faststream.rabbit import RabbitBroker

from shared import metrics, telemetry
from shared.db import Database
from shared.readiness import DatabaseCheck, Readiness, ReadinessCheck, StartupGate, broker_check


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
    `readiness_checks` adds checks of other dependencies, by the name `/readyz` reports them under;
    `startup` is the gate a service's runtime marks its own start-up conditions on (the catalog
    snapshot). The app adds its own to it: `subscribers` (until the broker consumes) and `start-up`
    (until the last `after_startup` hook has returned); and it stops the gate as the first thing it
    does on shutdown, so `/readyz` is 503 while the broker drains the messages in hand.
    """

    def __init__(
        self,
        broker: RabbitBroker,
        *,
        http_api: FastAPI | None = None,
        database_url: str | None = None,
        readiness_checks: Mapping[str, ReadinessCheck] | None = None,
        startup: StartupGate | None = None,
        **kwargs: Any,
    ) -> None:
        checks: dict[str, ReadinessCheck] = {"broker": broker_check(broker)}
        if database_url is not None:
            checks["database"] = DatabaseCheck(database_url)
        checks.update(readiness_checks or {})
        self.startup = startup if startup is not None else StartupGate()
        self.startup.wait_for("subscribers", "the broker's subscribers are not consuming yet")
        self.startup.wait_for("start-up", "the start-up hooks have not finished")
        self.readiness = Readiness(checks, gate=self.startup)
        routes: Sequence[tuple[str, Any]] = [
            ("/healthz", make_ping_asgi(broker, timeout=5.0)),
            ("/readyz", self.readiness.asgi()),
            ("/metrics", metrics.metrics_app()),
        ]
        # The check's own database connection closes with the service, after everything else; the
        # spans of the last messages are exported before the process exits.
        kwargs["after_shutdown"] = [
            *kwargs.get("after_shutdown", ()),
            self.readiness.close,
            telemetry.flush_traces_async,
        ]
        # FastStream runs `after_startup` once the broker has started its subscribers.
        kwargs["after_startup"] = [self._consuming, *kwargs.get("after_startup", ()), self._started]
        kwargs["on_shutdown"] = [self._stopping, *kwargs.get("on_shutdown", ())]
        super().__init__(broker, asgi_routes=routes, **kwargs)
        self.http_api = http_api

    async def _consuming(self) -> None:
        self.startup.done("subscribers")

    async def _started(self) -> None:
        self.startup.done("start-up")

    async def _stopping(self) -> None:
        self.startup.stop()

    @classmethod
    def of(
        cls,
        runtime: ServiceRuntime,
        *,
        startup: StartupGate | None = None,
        readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    ) -> "ServiceApp":
        """The process of a service: its runtime's hooks on the app's lifecycle, `/readyz` on its database,
        waiting for `migrations` until the runtime's `open` (which migrates) has returned."""
        startup = startup if startup is not None else StartupGate()
        startup.wait_for("migrations", "the database is not open and migrated yet")

        async def migrated() -> None:
            startup.done("migrations")

        return cls(
            runtime.broker,
            database_url=runtime.database.url,
            http_api=runtime.http_api,
            readiness_checks=readiness_checks,
            startup=startup,
            on_startup=[runtime.open, migrated],
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
