"""The bounces process as `faststream run` builds it (`create_app`), run in the test's event loop
against real RabbitMQ and PostgreSQL: status events in, per-server outcome counters out."""

from uuid import UUID, uuid4

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from services.bounces.entrypoints.main import create_app
from services.bounces.entrypoints.subscribers import STATUS_QUEUE
from services.bounces.settings import BouncesSettings
from shared.contracts import MessageStatus, StatusEvent
from shared.db import Database
from shared.topology import STATUS_EXCHANGE
from tests.support.infra import create_vhost, delete_vhost
from tests.support.waiting import eventually_async


@pytest.fixture
def own_amqp_url():
    url = create_vhost("sendpool-bounces")
    yield url
    delete_vhost(url)


def event(server_id: UUID, status: MessageStatus) -> StatusEvent:
    return StatusEvent(
        status=status,
        message_id=uuid4(),
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient="someone@example.com",
        server_id=server_id,
    )


async def publish(amqp_url: str, events: list[StatusEvent]) -> None:
    broker = RabbitBroker(amqp_url, logger=None)
    async with broker:
        await broker.start()
        for status_event in events:
            await broker.publish(
                status_event.model_dump_json().encode(),
                exchange=STATUS_EXCHANGE,
                routing_key=status_event.routing_key,
                content_type="application/json",
                mandatory=False,  # a status nobody counts has no queue bound to it
            )


async def queued(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(STATUS_QUEUE.name, passive=True)
        return queue.declaration_result.message_count or 0


async def test_counted_statuses_reach_the_counters_and_the_others_are_not_even_queued(
    own_amqp_url, database_url
):
    settings = BouncesSettings(
        amqp_url=own_amqp_url, database_url=database_url, message_metrics=False, counter_batch_size=3
    )
    server = uuid4()
    counted = [MessageStatus.SENT, MessageStatus.SENT, MessageStatus.BOUNCED, MessageStatus.DEFERRED]
    database = Database(database_url, SCHEMA, MIGRATIONS, pool_size=1, wait_seconds=0)
    async with create_app(settings):
        await publish(own_amqp_url, [event(server, status) for status in [MessageStatus.ROUTED, *counted]])
        await database.open()  # the test's own reader of the service's schema
        try:
            store = PgCounterStore(database)
            expected = {"sent": 2, "bounced": 1, "deferred": 1}

            async def all_counted() -> bool:
                return await store.totals(server) == expected

            await eventually_async(
                all_counted,
                timeout_seconds=30,
                interval_seconds=0.1,
                what=f"the counters of {server} at {expected}",
            )
        finally:
            await database.close()

    # Stopped: what is published now stays in its queue, and only the statuses it counts get there.
    await publish(own_amqp_url, [event(server, MessageStatus.ROUTED), event(server, MessageStatus.HELD)])
    await publish(own_amqp_url, [event(server, MessageStatus.FAILED)])
    assert (
        await eventually_async(
            lambda: queued(own_amqp_url),
            timeout_seconds=10,
            interval_seconds=0.1,
            what="the failed event queued",
        )
        == 1
    )
