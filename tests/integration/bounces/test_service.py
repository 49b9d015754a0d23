"""The bounces process as `faststream run` builds it (`create_app`), run in the test's event loop
against real RabbitMQ and PostgreSQL: status batches (and the single status events of earlier
versions) in, per-server outcome counters out."""

from collections import Counter
from uuid import UUID, uuid4

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from services.bounces.entrypoints.main import create_app
from services.bounces.entrypoints.subscribers import STATUS_QUEUE
from services.bounces.settings import BouncesSettings
from shared.contracts import MessageStatus, StatusBatch, StatusEvent
from shared.db import Database
from shared.topology import STATUS_EXCHANGE
from tests.support.infra import create_vhost, delete_vhost
from tests.support.waiting import eventually_async

SMTP = {"smtp_host": "127.0.0.1", "smtp_port": 0}
"""The bounce mail endpoint on any free port: several bounces processes may run at once."""


@pytest.fixture
def own_amqp_url():
    url = create_vhost("sendpool-bounces")
    yield url
    delete_vhost(url)


def event(
    server_id: UUID, status: MessageStatus, *, tenant_id: UUID | None = None, campaign_id: UUID | None = None
) -> StatusEvent:
    return StatusEvent(
        status=status,
        message_id=uuid4(),
        tenant_id=tenant_id or uuid4(),
        campaign_id=campaign_id or uuid4(),
        run_id=uuid4(),
        recipient="someone@example.com",
        server_id=server_id,
    )


async def publish(amqp_url: str, messages: list[StatusEvent] | list[StatusBatch]) -> None:
    """Each message alone: a `StatusEvent` is what earlier versions published, a `StatusBatch` what this one does."""
    broker = RabbitBroker(amqp_url, logger=None)
    async with broker:
        await broker.start()
        for message in messages:
            await broker.publish(
                message.model_dump_json().encode(),
                exchange=STATUS_EXCHANGE,
                routing_key=message.routing_key,
                content_type="application/json",
                mandatory=False,  # a status nobody counts has no queue bound to it
            )


async def wait_for_totals(database_url: str, expected: dict[UUID, dict[str, int]]) -> None:
    database = Database(database_url, SCHEMA, MIGRATIONS, pool_size=1, wait_seconds=0)
    await database.open()  # the test's own reader of the service's schema
    try:
        store = PgCounterStore(database)

        async def all_counted() -> bool:
            return {server: await store.totals(server) for server in expected} == expected

        await eventually_async(
            all_counted, timeout_seconds=30, interval_seconds=0.1, what=f"the counters at {expected}"
        )
    finally:
        await database.close()


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
        amqp_url=own_amqp_url, database_url=database_url, message_metrics=False, counter_batch_size=3, **SMTP
    )
    server = uuid4()
    counted = [MessageStatus.SENT, MessageStatus.SENT, MessageStatus.BOUNCED, MessageStatus.DEFERRED]
    async with create_app(settings):
        # Single `StatusEvent`s, as earlier versions published them (some may wait in the queue).
        await publish(own_amqp_url, [event(server, status) for status in [MessageStatus.ROUTED, *counted]])
        await wait_for_totals(database_url, {server: {"sent": 2, "bounced": 1, "deferred": 1}})

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


async def test_every_event_of_a_status_batch_is_counted(own_amqp_url, database_url):
    settings = BouncesSettings(
        amqp_url=own_amqp_url, database_url=database_url, message_metrics=False, **SMTP
    )
    tenant_id, campaign_id = uuid4(), uuid4()
    servers = [uuid4(), uuid4(), uuid4()]
    statuses = [MessageStatus.SENT] * 300 + [MessageStatus.BOUNCED] * 40 + [MessageStatus.ROUTED] * 30
    events = [
        event(servers[i % 3], status, tenant_id=tenant_id, campaign_id=campaign_id)
        for i, status in enumerate(statuses)
    ]
    batches = StatusBatch.of(events)
    assert sorted(len(batch.events) for batch in batches) == [30, 40, 300]

    expected = {
        server: dict(
            Counter(
                e.status.value
                for e in events
                if e.server_id == server and e.status is not MessageStatus.ROUTED
            )
        )
        for server in servers
    }
    assert expected[servers[0]] == {"sent": 100, "bounced": 14}

    async with create_app(settings):
        await publish(own_amqp_url, batches)
        await wait_for_totals(database_url, expected)
