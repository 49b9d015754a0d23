"""The router's composition root: every part built from the settings, before anything connects.

`bootstrap(settings)` opens nothing and needs no event loop, so documentation generators can
build the app to read its broker (AsyncAPI) and HTTP API (OpenAPI). The process's hooks do
the I/O, in the order `ServiceApp` calls them: `open` (the database; the campaigns stopped so
far), `start` once the broker is connected (the outbox relay, the background chores, the
catalog's snapshot, the drainers), then `stop` and `close`.

Beside its consumers the router runs supervised background tasks (`shared.background`): the
outbox relay that publishes `campaign_stopped` and `held`, the sweeper that releases held
messages a dead resume left behind, the clean-up of old send counters, and the round that reads
the servers' queues and headroom for the metrics (`app.fleet_load`). A round that fails is
logged, counted in `sendpool_background_task_failures_total{task}` and retried.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.adapters.catalog_client import CatalogClient
from services.router.adapters.drainers import QueueDrainers
from services.router.adapters.held_store import OUTBOX_CHANNEL, PgHeldMessages
from services.router.adapters.metrics import PrometheusFleetGauges, PrometheusRoutingMetrics
from services.router.adapters.outbound import RabbitOutbound
from services.router.adapters.publishers import RouterPublishers, declare_publishers
from services.router.adapters.queue_stats import RabbitQueueStats
from services.router.app.capacity import CapacityLedger
from services.router.app.fleet_load import FleetLoad
from services.router.app.routing import Router
from services.router.domain.view import RoutingView
from services.router.entrypoints.http import create_http_api
from services.router.entrypoints.subscribers import register
from services.router.settings import RouterSettings
from shared.auth import (
    REVOCATIONS_RPC_TIMEOUT_SECONDS,
    RevokedTokens,
    follow_revocations,
    revocations_from_catalog,
)
from shared.background import BackgroundTasks
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker
from shared.outbox import OutboxRelay
from shared.readiness import StartupGate
from shared.rpc import RpcClient

SCHEMA = "router"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

COUNTERS_KEPT = timedelta(days=2)
"""Send counters older than this are deleted: no limit looks back further than a day."""

log = structlog.get_logger("router")


@dataclass
class RouterRuntime:
    settings: RouterSettings
    broker: RabbitBroker
    publishers: RouterPublishers
    database: Database
    rpc: RpcClient
    capacity_store: PgCapacityStore
    router: Router
    drainers: QueueDrainers
    outbox_relay: OutboxRelay
    http_api: FastAPI
    revoked_tokens: RevokedTokens
    """Asked of the catalog as the process starts, then kept current by its events."""
    fleet_load: FleetLoad
    queue_stats: RabbitQueueStats
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    startup: StartupGate = field(
        default_factory=lambda: StartupGate(
            catalog_snapshot="not loaded yet (asking the catalog on catalog.rpc)"
        )
    )
    """`/readyz` waits for the catalog's snapshot: without it the router cannot route."""

    async def open(self) -> None:
        """Before the broker connects: the database, and which campaigns are stopped."""
        await self.database.open()
        await self.router.load_stops()

    async def start(self) -> None:
        """Once the broker is connected (the relay and the chores publish)."""
        await declare_dead_letters(self.broker)
        self.revoked_tokens.start_loading(
            revocations_from_catalog(self.rpc, timeout_seconds=REVOCATIONS_RPC_TIMEOUT_SECONDS)
        )
        self.outbox_relay.start()
        start_background(self.background, self.router, self.capacity_store, self.settings)
        self.background.repeat(
            "router-queue-metrics",
            self.fleet_load.report,
            every_seconds=self.settings.queue_metrics_interval_seconds,
        )
        # Subscribed to catalog events already, so nothing changes unseen between snapshot and events.
        await self.router.start()
        self.startup.done("catalog_snapshot")
        await self.drainers.sync()
        log.info(
            "router ready", servers=len(self.router.view.servers), stopped_campaigns=len(self.router.stopped)
        )

    async def stop(self) -> None:
        """Before the broker disconnects."""
        await self.revoked_tokens.stop()
        await self.background.stop()
        await self.queue_stats.close()
        await self.outbox_relay.stop()
        await self.drainers.stop_all()

    async def close(self) -> None:
        """Last: unspent capacity goes back to the other replicas, then the connections close."""
        try:
            if self.database.is_open:
                await self.router.capacity.release_all()
        finally:
            await self.database.close()
            await self.rpc.close()


def bootstrap(settings: RouterSettings) -> RouterRuntime:
    broker = service_broker(settings, SCHEMA)
    publishers = declare_publishers(broker)
    database = Database.for_service(settings, SCHEMA, MIGRATIONS)
    rpc = RpcClient(settings.amqp_url, name="router")
    capacity_store = PgCapacityStore(database)
    router = Router(
        view=RoutingView(),
        catalog=CatalogClient(
            rpc,
            snapshot_timeout_seconds=settings.catalog_snapshot_timeout_seconds,
            policy_timeout_seconds=settings.catalog_policy_timeout_seconds,
        ),
        outbound=RabbitOutbound(broker, publishers),
        held=PgHeldMessages(database),
        capacity=CapacityLedger(capacity_store),
        metrics=PrometheusRoutingMetrics(),
        rng=random.Random(settings.seed),
    )
    drainers = QueueDrainers(broker, router, prefetch=settings.batch_prefetch)
    register(broker, router, drainers, settings.instance_id, batch_prefetch=settings.batch_prefetch)
    queue_stats = RabbitQueueStats(settings.amqp_url, name="router")
    revoked_tokens = RevokedTokens()
    follow_revocations(broker, SCHEMA, settings.instance_id, revoked_tokens)
    return RouterRuntime(
        settings=settings,
        broker=broker,
        publishers=publishers,
        database=database,
        rpc=rpc,
        capacity_store=capacity_store,
        router=router,
        drainers=drainers,
        outbox_relay=OutboxRelay(
            database,
            publishers.campaign_events,
            schema=SCHEMA,
            channel=OUTBOX_CHANNEL,
            poll_seconds=settings.outbox_poll_seconds,
        ),
        http_api=create_http_api(settings, router, capacity_store, revoked_tokens),
        revoked_tokens=revoked_tokens,
        fleet_load=FleetLoad(router.view, queue_stats, capacity_store, PrometheusFleetGauges()),
        queue_stats=queue_stats,
    )


async def forget_old_windows(store: PgCapacityStore) -> int:
    """One clean-up round: delete the send counters no limit looks at any more."""
    return await store.forget_before(datetime.now(UTC) - COUNTERS_KEPT)


def start_background(
    tasks: BackgroundTasks, router: Router, capacity_store: PgCapacityStore, settings: RouterSettings
) -> None:
    """The router's periodic chores, each supervised: a failed round is logged, counted and retried."""
    tasks.repeat(
        "router-capacity-cleanup",
        lambda: forget_old_windows(capacity_store),
        every_seconds=settings.capacity_cleanup_seconds,
    )
    tasks.repeat("router-held-sweeper", router.release_orphans, every_seconds=settings.held_sweep_seconds)
