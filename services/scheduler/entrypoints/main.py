"""The scheduler process: `faststream run --factory services.scheduler.entrypoints.main:create_app`."""

from pathlib import Path

from services.scheduler.adapters.metrics import PrometheusSchedulerMetrics
from services.scheduler.adapters.postgres import OUTBOX_CHANNEL, SCHEMA, PostgresStore
from services.scheduler.adapters.rabbit import RabbitPublisher, declare_topology
from services.scheduler.app.campaigns import Campaigns
from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.expansion import Expander, ExpansionSupervisor
from services.scheduler.app.lists import RecipientLists
from services.scheduler.app.ports import ExpansionLease
from services.scheduler.app.stale import StaleMessageSweeper
from services.scheduler.app.statuses import StatusFolding
from services.scheduler.entrypoints.consumer import register_status_consumer
from services.scheduler.entrypoints.http import create_http_api
from services.scheduler.settings import SchedulerSettings
from shared.background import BackgroundTasks
from shared.messaging import make_broker
from shared.outbox import OutboxRelay
from shared.service import ServiceApp
from shared.telemetry import configure
from shared.topology import INSTANCE_ID

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def create_app() -> ServiceApp:
    settings = SchedulerSettings()
    log = configure("scheduler", settings.log_level, settings.log_json)
    broker = make_broker(
        settings.amqp_url, "scheduler", prefetch=settings.prefetch, message_metrics=settings.message_metrics
    )
    store = PostgresStore(
        settings.database_url,
        pool_size=settings.db_pool_size,
        startup_wait_seconds=settings.startup_database_wait_seconds,
    )
    publisher = RabbitPublisher(broker)

    metrics = PrometheusSchedulerMetrics()
    completion = RunCompletion(store, metrics)
    lease = ExpansionLease(holder=f"scheduler-{INSTANCE_ID}", seconds=settings.expansion_lease_seconds)
    expander = Expander(store, publisher, completion, batch_size=settings.expand_batch_size, lease=lease)
    expansions = ExpansionSupervisor(
        expander,
        store,
        retry_pause=settings.expansion_retry_seconds,
    )
    campaigns = Campaigns(store, expansions, completion, metrics)
    stale_messages = StaleMessageSweeper(
        store,
        publisher,
        metrics,
        quiet_seconds=settings.stale_after_seconds,
        routed_quiet_seconds=settings.stale_routed_after_seconds,
    )
    background = BackgroundTasks()
    relay: OutboxRelay | None = None  # on the pool, which exists once the database is open
    statuses = StatusFolding(
        store, completion, metrics, max_items=settings.status_batch_size, max_wait=settings.status_batch_wait
    )
    register_status_consumer(broker, statuses, campaigns)

    async def open_resources() -> None:
        # Before the broker starts consuming: handlers need the tables, and publishes need the topology.
        await store.open()
        await broker.connect()
        await declare_topology(broker)
        log.info("scheduler ready", expand_batch_size=settings.expand_batch_size)

    async def start_background() -> None:
        nonlocal relay
        relay = OutboxRelay(store.pool, broker, schema=SCHEMA, channel=OUTBOX_CHANNEL)
        relay.start()
        background.repeat(
            "scheduler-stale-messages", stale_messages.sweep, every_seconds=settings.stale_sweep_seconds
        )
        # Runs left half expanded by a replica that died or stopped, taken over once their lease ran out.
        background.repeat(
            "scheduler-expansion-sweep",
            expansions.start_unfinished,
            every_seconds=settings.expansion_sweep_seconds,
        )

    async def stop_background() -> None:
        await background.stop()
        if relay is not None:
            await relay.stop()
        await expansions.stop()

    return ServiceApp(
        broker,
        database_url=settings.database_url,
        http_api=create_http_api(settings, RecipientLists(store), campaigns),
        on_startup=[open_resources],
        after_startup=[start_background],
        on_shutdown=[stop_background],
        after_shutdown=[store.close],
    )
