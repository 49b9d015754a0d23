"""The catalog process: `faststream run --factory services.catalog.entrypoints.main:create_app`."""

from datetime import timedelta
from pathlib import Path

import asyncpg
from faststream.rabbit import RabbitBroker

from services.catalog.adapters.fernet_secret_box import FernetSecretBox
from services.catalog.adapters.postgres import PostgresCatalogStore, PostgresOutbox
from services.catalog.adapters.rabbit import RabbitEventPublisher, RabbitProber
from services.catalog.adapters.server_type_plugins import installed_server_types
from services.catalog.app.catalog import CatalogUseCases
from services.catalog.app.outbox_relay import OutboxRelay
from services.catalog.app.policies import Policies
from services.catalog.app.queries import CatalogQueries
from services.catalog.app.servers import Servers
from services.catalog.app.tenancy import Tenancy
from services.catalog.app.views import ServerViews
from services.catalog.domain.server_types import ServerTypeRegistry
from services.catalog.entrypoints.http import create_http_api
from services.catalog.entrypoints.rpc import register_rpc
from services.catalog.settings import CatalogSettings
from shared import telemetry
from shared.auth import issue_tenant_token
from shared.db import open_database
from shared.messaging import declare_dead_letters, make_broker
from shared.rpc import RpcClient
from shared.service import ServiceApp
from shared.topology import CATALOG_EXCHANGE

SCHEMA = "catalog"
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


class CatalogRuntime:
    """What exists only while the process runs: the pool, the use cases wired to it, the outbox relay."""

    def __init__(
        self, settings: CatalogSettings, broker: RabbitBroker, server_types: ServerTypeRegistry
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._server_types = server_types
        self._rpc = RpcClient(settings.amqp_url, name="catalog")
        self._pool: asyncpg.Pool | None = None
        self._outbox: PostgresOutbox | None = None
        self._relay: OutboxRelay | None = None
        self.use_cases: CatalogUseCases | None = None

    def started_use_cases(self) -> CatalogUseCases:
        assert self.use_cases is not None, "the catalog has not started"
        return self.use_cases

    async def open(self) -> None:
        settings = self._settings
        self._pool = await open_database(
            settings.database_url,
            SCHEMA,
            MIGRATIONS,
            settings.db_pool_size,
            wait_seconds=settings.startup_database_wait_seconds,
        )
        store = PostgresCatalogStore(self._pool)
        secret_box = FernetSecretBox(settings.secret_keys)
        self.use_cases = CatalogUseCases(
            tenancy=Tenancy(store, lambda tenant_id: issue_tenant_token(settings.token_secret, tenant_id)),
            servers=Servers(
                store,
                secret_box,
                RabbitProber(self._rpc, settings.probe_timeout_seconds),
                self._server_types,
            ),
            policies=Policies(store),
            queries=CatalogQueries(store, secret_box),
            views=ServerViews(store),
            server_types=self._server_types,
        )
        self._outbox = PostgresOutbox(self._pool, settings.database_url)
        self._relay = OutboxRelay(
            self._outbox,
            RabbitEventPublisher(self._broker),
            poll_seconds=settings.outbox_poll_seconds,
            retention=timedelta(hours=settings.outbox_retention_hours),
        )

    async def start_publishing(self) -> None:
        """Runs once the broker is connected: declares where the catalog publishes, then starts the relay."""
        await declare_dead_letters(self._broker)
        await self._broker.declare_exchange(CATALOG_EXCHANGE)
        self._relay.start()

    async def stop_relay(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
        if self._outbox is not None:
            await self._outbox.close()

    async def close(self) -> None:
        """Runs after the broker stopped, so no RPC handler still needs the pool."""
        await self._rpc.close()
        if self._pool is not None:
            await self._pool.close()


def create_app() -> ServiceApp:
    settings = CatalogSettings()
    telemetry.configure("catalog", settings.log_level, settings.log_json)
    broker = make_broker(
        settings.amqp_url, "catalog", settings.prefetch, message_metrics=settings.message_metrics
    )
    runtime = CatalogRuntime(settings, broker, ServerTypeRegistry.with_plugins(installed_server_types()))
    register_rpc(broker, runtime.started_use_cases)
    http_api = create_http_api(settings)

    async def open_runtime() -> None:
        await runtime.open()
        http_api.state.use_cases = runtime.use_cases

    return ServiceApp(
        broker,
        database_url=settings.database_url,
        http_api=http_api,
        on_startup=[open_runtime],
        after_startup=[runtime.start_publishing],
        on_shutdown=[runtime.stop_relay],
        after_shutdown=[runtime.close],
    )
