"""Router process: `faststream run --factory services.router.entrypoints.main:create_app`.

Beside its consumers it runs supervised background tasks (`shared.background`): the outbox
relay that publishes `campaign_stopped` and `held`, the sweeper that releases held messages a
dead resume left behind, and the clean-up of old send counters. A round that fails is logged,
counted in `sendpool_background_task_failures_total{task}` and retried.
"""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from faststream.rabbit import RabbitBroker, RabbitResponse

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.adapters.catalog_client import CatalogClient
from services.router.adapters.drainers import QueueDrainers
from services.router.adapters.held_store import OUTBOX_CHANNEL, PgHeldMessages
from services.router.adapters.metrics import PrometheusRoutingMetrics
from services.router.adapters.outbound import RabbitOutbound
from services.router.app.capacity import CapacityLedger
from services.router.app.routing import Router
from services.router.domain.view import RoutingView
from services.router.entrypoints.http import create_http_api
from services.router.settings import RouterSettings
from shared import telemetry
from shared.background import BackgroundTasks
from shared.contracts import (
    AdmissionRequest,
    CampaignEvent,
    CatalogEvent,
    SendRequested,
    ServerHealthEvent,
)
from shared.db import open_database
from shared.messaging import declare_dead_letters, make_broker, rpc_reply
from shared.outbox import OutboxRelay
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
    work_queue,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

CAMPAIGN_RESUMED_QUEUE = work_queue("router.campaign-resumed", routing_key="*.*.campaign_resumed")
"""Shared by every replica and durable: one replica releases a resumed campaign's held messages,
whichever replicas restart meanwhile, and a resume that fails half way is delivered again."""

COUNTERS_KEPT = timedelta(days=2)
"""Send counters older than this are deleted: no limit looks back further than a day."""


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

    # A replica that did not take the resume learns of it from PostgreSQL when it next routes a
    # message of the campaign (its stop is gone or being lifted), so only one replica needs to hear of it.
    @broker.subscriber(
        CAMPAIGN_RESUMED_QUEUE,
        STATUS_EXCHANGE,
        title="router.campaign-resumed",
        description="Releases a resumed campaign's held messages back to routing (any one replica); "
        "acknowledged once all are released.",
    )
    async def on_campaign_resumed(event: CampaignEvent) -> None:
        await router.campaign_resumed(event.campaign_id)


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
    background = BackgroundTasks()

    async def on_startup() -> None:
        pool = resources["pool"] = await open_database(
            settings.database_url,
            "router",
            MIGRATIONS,
            settings.db_pool_size,
            wait_seconds=settings.startup_database_wait_seconds,
        )
        router.held = PgHeldMessages(pool)
        capacity_store = resources["capacity_store"] = PgCapacityStore(pool)
        router.capacity = CapacityLedger(capacity_store)
        router.stopped = await router.held.stopped_campaigns()
        resources["outbox_relay"] = OutboxRelay(
            pool,
            broker,
            schema="router",
            channel=OUTBOX_CHANNEL,
            poll_seconds=settings.router_outbox_poll_seconds,
        )

    async def after_startup() -> None:
        await declare_dead_letters(broker)
        # They publish, so they start once the broker is connected.
        resources["outbox_relay"].start()
        start_background(background, router, resources["capacity_store"], settings)
        # Subscribed to catalog events already, so nothing changes unseen between snapshot and events.
        await router.start()
        await drainers.sync()
        log.info("router ready", servers=len(router.view.servers), stopped_campaigns=len(router.stopped))

    async def on_shutdown() -> None:
        await background.stop()
        if "outbox_relay" in resources:
            await resources["outbox_relay"].stop()
        await drainers.stop_all()

    async def after_shutdown() -> None:
        if router.capacity is not None:
            await router.capacity.release_all()
        if "pool" in resources:
            await resources["pool"].close()
        await rpc.close()

    return ServiceApp(
        broker,
        database_url=settings.database_url,
        http_api=create_http_api(settings, router, resources),
        on_startup=[on_startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
    )
