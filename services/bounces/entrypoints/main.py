"""Bounces process: `faststream run --factory services.bounces.entrypoints.main:create_app`.

For now it folds status events into per-server outcome counters; DSN, webhook and complaint
intake come with the bounces issue.
"""

from pathlib import Path

from pydantic import TypeAdapter

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.app.counters import RecordOutcomes
from services.bounces.domain.outcomes import COUNTED
from services.bounces.settings import BouncesSettings
from shared import telemetry
from shared.batching import Batcher
from shared.contracts import CampaignEvent, StatusEvent
from shared.db import open_database
from shared.messaging import declare_dead_letters, make_broker
from shared.service import ServiceApp
from shared.topology import STATUS_EXCHANGE, status_queue

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
COUNTED_ROUTING_KEYS = [f"*.*.{status.value}" for status in sorted(COUNTED)]
"""Status events are published as `<tenant>.<campaign>.<status>`."""
StatusOrCampaign = TypeAdapter(StatusEvent | CampaignEvent)


def create_app() -> ServiceApp:
    settings = BouncesSettings()
    telemetry.configure("bounces", settings.log_level, settings.log_json)
    broker = make_broker(
        settings.amqp_url, "bounces", settings.prefetch, message_metrics=settings.message_metrics
    )
    resources: dict = {}

    first_key, *other_keys = COUNTED_ROUTING_KEYS
    queue = status_queue("bounces", binding=first_key)

    @broker.subscriber(queue, STATUS_EXCHANGE)
    async def on_status(body: dict) -> None:
        event = StatusOrCampaign.validate_python(body)
        if isinstance(event, StatusEvent):
            await resources["batcher"].submit(event)

    async def on_startup() -> None:
        resources["pool"] = await open_database(
            settings.database_url,
            "bounces",
            MIGRATIONS,
            settings.db_pool_size,
            wait_seconds=settings.startup_database_wait_seconds,
        )
        record = RecordOutcomes(PgCounterStore(resources["pool"]))
        resources["batcher"] = Batcher(record, max_items=settings.counter_batch_size)

    async def after_startup() -> None:
        await declare_dead_letters(broker)
        # Only the statuses it counts: `routed` and `held`, one or more per message, would cost a
        # queue write and a parse each for nothing. Earlier versions bound everything ("#").
        declared = await broker.declare_queue(queue)
        exchange = await broker.declare_exchange(STATUS_EXCHANGE)
        for key in other_keys:
            await declared.bind(exchange, routing_key=key)
        await declared.unbind(exchange, routing_key="#")

    async def after_shutdown() -> None:
        if "pool" in resources:
            await resources["pool"].close()

    return ServiceApp(
        broker,
        database_url=settings.database_url,
        on_startup=[on_startup],
        after_startup=[after_startup],
        after_shutdown=[after_shutdown],
    )
