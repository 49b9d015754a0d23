"""Router process: `faststream run --factory services.router.entrypoints.main:create_app`."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faststream.rabbit import RabbitBroker, RabbitResponse

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.adapters.catalog_client import CatalogClient
from services.router.adapters.drainers import QueueDrainers
from services.router.adapters.held_store import PgHeldMessages
from services.router.adapters.metrics import PrometheusRoutingMetrics
from services.router.adapters.outbound import RabbitOutbound
from services.router.app.capacity import CapacityLedger
from services.router.app.routing import Router
from services.router.domain.view import RoutingView
from services.router.entrypoints.http import create_http_api
from services.router.settings import RouterSettings
from shared import telemetry
from shared.contracts import (
    AdmissionRequest,
    CampaignEvent,
    CatalogEvent,
    SendRequested,
    ServerHealthEvent,
)
from shared.db import create_pool, migrate
from shared.messaging import declare_dead_letters, make_broker, rpc_reply
from shared.rpc import RpcClient
from shared.service import ServiceApp
from shared.topology import (
    CATALOG_EXCHANGE,
    HEALTH_EXCHANGE,
    ROUTER_ADMISSIONS_QUEUE,
    SEND_EXCHANGE,
    SEND_QUEUE,
    STATUS_EXCHANGE,
    instance_queue,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def register(broker: RabbitBroker, router: Router, drainers: QueueDrainers) -> None:
    @broker.subscriber(SEND_QUEUE, SEND_EXCHANGE)
    async def on_send_requested(message: SendRequested) -> None:
        await router.route(message)

    @broker.subscriber(
        ROUTER_ADMISSIONS_QUEUE,
        title="router.admissions",
        description="Counts a late message's send now, if its server's limits have room (any replica answers).",
    )
    async def on_admission(request: AdmissionRequest) -> RabbitResponse:
        return rpc_reply(await router.admit(request))

    @broker.subscriber(instance_queue("router", "catalog-events", "catalog.#"), CATALOG_EXCHANGE)
    async def on_catalog_event(event: CatalogEvent) -> None:
        router.view.apply(event)
        await drainers.sync()

    @broker.subscriber(instance_queue("router", "health", "server.*"), HEALTH_EXCHANGE)
    async def on_server_health(event: ServerHealthEvent) -> None:
        if event.healthy:
            router.view.unhealthy.pop(event.server_id, None)
        else:
            router.view.unhealthy[event.server_id] = (
                event.reason or f"{event.consecutive_failures} connection failures"
            )
        await drainers.sync()

    # Topic wildcards match whole words only, so each campaign decision gets a binding of its own.
    @broker.subscriber(instance_queue("router", "campaign-stopped", "*.*.campaign_stopped"), STATUS_EXCHANGE)
    async def on_campaign_stopped(event: CampaignEvent) -> None:
        router.campaign_stopped(event.campaign_id)

    @broker.subscriber(instance_queue("router", "campaign-resumed", "*.*.campaign_resumed"), STATUS_EXCHANGE)
    async def on_campaign_resumed(event: CampaignEvent) -> None:
        await router.campaign_resumed(event.campaign_id)


async def forget_old_windows(store: PgCapacityStore, every_seconds: float = 3600) -> None:
    while True:
        await store.forget_before(datetime.now(UTC) - timedelta(days=2))
        await asyncio.sleep(every_seconds)


def create_app() -> ServiceApp:
    settings = RouterSettings()
    log = telemetry.configure("router", settings.log_level, settings.log_json)
    broker = make_broker(
        settings.amqp_url, "router", settings.prefetch, message_metrics=settings.message_metrics
    )
    rpc = RpcClient(settings.amqp_url, name="router")
    catalog = CatalogClient(rpc, settings.catalog_rpc_timeout_seconds)
    # The database-backed parts are attached on startup, once the pool exists.
    router = Router(
        view=RoutingView(),
        catalog=catalog,
        outbound=RabbitOutbound(broker),
        held=None,
        capacity=None,
        metrics=PrometheusRoutingMetrics(),
        rng=random.Random(settings.routing_seed),
    )
    drainers = QueueDrainers(broker, router)
    register(broker, router, drainers)
    resources: dict = {}

    async def on_startup() -> None:
        await asyncio.to_thread(migrate, settings.database_url, "router", MIGRATIONS)
        pool = resources["pool"] = await create_pool(settings.database_url, "router", settings.db_pool_size)
        router.held = PgHeldMessages(pool)
        capacity_store = resources["capacity_store"] = PgCapacityStore(pool)
        router.capacity = CapacityLedger(capacity_store)
        router.stopped = await router.held.stopped_campaigns()
        resources["janitor"] = asyncio.create_task(forget_old_windows(capacity_store))

    async def after_startup() -> None:
        await declare_dead_letters(broker)
        # Subscribed to catalog events already, so nothing changes unseen between snapshot and events.
        await router.start()
        await drainers.sync()
        log.info("router ready", servers=len(router.view.servers), stopped_campaigns=len(router.stopped))

    async def on_shutdown() -> None:
        await drainers.stop_all()

    async def after_shutdown() -> None:
        if "janitor" in resources:
            resources["janitor"].cancel()
        if router.capacity is not None:
            await router.capacity.release_all()
        if "pool" in resources:
            await resources["pool"].close()
        await rpc.close()

    return ServiceApp(
        broker,
        http_api=create_http_api(settings, router, resources),
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
    )
