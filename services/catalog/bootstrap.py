"""The catalog's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too); the
`CatalogRuntime` hooks, run by the process's lifecycle, reach PostgreSQL and RabbitMQ.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from services.catalog.adapters.dns_resolver import AiodnsLookup
from services.catalog.adapters.fernet_secret_box import FernetSecretBox
from services.catalog.adapters.metrics import PrometheusFleetStatus, PrometheusOutboxMetrics
from services.catalog.adapters.postgres import PostgresCatalogStore, PostgresOutbox
from services.catalog.adapters.publishers import CatalogPublishers, declare_publishers
from services.catalog.adapters.rabbit import RabbitEventPublisher, RabbitProber
from services.catalog.adapters.scheduler import SchedulerCampaignOwners
from services.catalog.adapters.server_statuses import PostgresServerStatuses
from services.catalog.adapters.server_type_plugins import installed_server_types
from services.catalog.app.catalog import CatalogUseCases
from services.catalog.app.fleet_status import FleetStatus
from services.catalog.app.identity_verification import IdentityVerifier
from services.catalog.app.outbox_relay import OutboxRelay
from services.catalog.app.policies import Policies
from services.catalog.app.queries import CatalogQueries
from services.catalog.app.reputation import Reputations
from services.catalog.app.servers import Servers
from services.catalog.app.tenancy import Tenancy
from services.catalog.app.tokens import Tokens
from services.catalog.app.views import ServerViews
from services.catalog.domain.identity_checks import VerificationPolicy
from services.catalog.domain.server_types import ServerTypeRegistry
from services.catalog.entrypoints.http import create_http_api
from services.catalog.entrypoints.rpc import register_rpc
from services.catalog.settings import CatalogSettings
from shared.auth import RevokedTokens, follow_revocations, issue_tenant_token, read_tenant_token
from shared.background import BackgroundTasks
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker
from shared.rpc import RpcClient

SCHEMA = "catalog"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def catalog_database(settings: CatalogSettings) -> Database:
    """The catalog's schema; opening it waits for PostgreSQL and applies the pending migrations."""
    return Database.for_service(settings, SCHEMA, MIGRATIONS)


@dataclass(frozen=True)
class CatalogRuntime:
    broker: RabbitBroker
    database: Database
    use_cases: CatalogUseCases
    """Shared by the HTTP API and the RPC queue."""
    http_api: FastAPI
    publishers: CatalogPublishers
    rpc: RpcClient
    """Carries the connection probes and the campaign-owner checks, each waiting for its answer beside the others."""
    outbox: PostgresOutbox
    relay: OutboxRelay
    revoked_tokens: RevokedTokens
    """Read from the database as the process starts, then kept current by `catalog.token.revoked`
    events (from every replica, this one included)."""
    fleet_status: FleetStatus
    """Reads the servers' states and pauses for the metrics every `server_metrics_interval_seconds`."""
    server_metrics_interval_seconds: float
    background: BackgroundTasks = field(default_factory=BackgroundTasks)

    async def open(self) -> None:
        """Before the RPC queue is consumed: wait for PostgreSQL, migrate, open the pool."""
        await self.database.open()

    async def start(self) -> None:
        """Once the broker is connected (its publisher declared sendpool.catalog): the dead-letter
        queue the RPC queue dead-letters into, then the outbox relay."""
        await declare_dead_letters(self.broker)
        self.relay.start()
        self.revoked_tokens.start_loading(self.use_cases.tokens.revoked)
        self.background.repeat(
            "catalog-server-metrics",
            self.fleet_status.refresh,
            every_seconds=self.server_metrics_interval_seconds,
        )

    async def stop(self) -> None:
        await self.background.stop()
        await self.revoked_tokens.stop()
        await self.relay.stop()
        await self.outbox.close()

    async def close(self) -> None:
        """After the broker stopped, so that no RPC handler still needs the pool."""
        await self.rpc.close()
        await self.database.close()


def bootstrap(settings: CatalogSettings) -> CatalogRuntime:
    broker = service_broker(settings, SCHEMA)
    database = catalog_database(settings)
    store = PostgresCatalogStore(database)
    secret_box = FernetSecretBox(settings.secret_keys)
    server_types = ServerTypeRegistry.with_plugins(installed_server_types())
    rpc = RpcClient(settings.amqp_url, name=SCHEMA)

    def sign_token(tenant_id: UUID, token_id: str, expires_at: datetime | None) -> str:
        return issue_tenant_token(settings.token_secret, tenant_id, token_id=token_id, expires_at=expires_at)

    identities = IdentityVerifier(
        store,
        secret_box,
        AiodnsLookup(settings.dns_nameservers, settings.dns_timeout_seconds),
        VerificationPolicy(bounce_mx_hosts=tuple(settings.bounce_mx_hosts), spf_include=settings.spf_include),
        required=settings.require_verified_identity,
    )
    use_cases = CatalogUseCases(
        tenancy=Tenancy(store, sign_token),
        tokens=Tokens(store, sign_token, lambda token: read_tenant_token(token, settings.token_secret)),
        servers=Servers(
            store,
            secret_box,
            RabbitProber(rpc, settings.probe_timeout_seconds),
            server_types,
            tenant_servers_max=settings.tenant_servers_max,
            identity_gate=identities,
        ),
        identities=identities,
        policies=Policies(
            store, SchedulerCampaignOwners(rpc, timeout_seconds=settings.campaign_owner_timeout_seconds)
        ),
        queries=CatalogQueries(store, secret_box),
        views=ServerViews(store),
        reputations=Reputations(store),
        server_types=server_types,
    )
    register_rpc(broker, use_cases)
    revoked_tokens = RevokedTokens()
    follow_revocations(broker, SCHEMA, settings.instance_id, revoked_tokens)
    publishers = declare_publishers(broker)
    outbox = PostgresOutbox(database)
    relay = OutboxRelay(
        outbox,
        RabbitEventPublisher(publishers.changes, max_bytes=settings.outbox_max_event_bytes),
        poll_seconds=settings.outbox_poll_seconds,
        retention=timedelta(hours=settings.outbox_retention_hours),
        metrics=PrometheusOutboxMetrics(),
    )
    return CatalogRuntime(
        broker=broker,
        database=database,
        use_cases=use_cases,
        http_api=create_http_api(settings, use_cases, revoked_tokens),
        publishers=publishers,
        rpc=rpc,
        outbox=outbox,
        relay=relay,
        revoked_tokens=revoked_tokens,
        fleet_status=FleetStatus(PostgresServerStatuses(database), PrometheusFleetStatus()),
        server_metrics_interval_seconds=settings.server_metrics_interval_seconds,
    )
