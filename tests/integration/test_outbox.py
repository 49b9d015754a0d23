"""The transactional outbox (shared/outbox.py) against real PostgreSQL and RabbitMQ: what commits
is published, in order, whenever the broker can take it; what rolls back never is."""

import asyncio
import json
import uuid

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared import outbox
from shared.contracts import CampaignEvent, CampaignEventKind
from shared.db import Database
from shared.topology import STATUS_EXCHANGE
from tests.support.infra import create_database, drop_database, free_port
from tests.support.waiting import eventually_async

CHANNEL = "test_outbox"
SCHEMA = "outbox_test"


@pytest.fixture
async def database(tmp_path):
    """A database whose schema has nothing but the outbox table, opened as a service opens its own."""
    (tmp_path / "0001_outbox.sql").write_text(outbox.OUTBOX_TABLE)
    url = create_database("sendpool_outbox")
    try:
        async with Database(url, SCHEMA, tmp_path, pool_size=4, wait_seconds=0) as opened:
            yield opened
    finally:
        drop_database(url)


def status_publisher(broker: RabbitBroker) -> RabbitPublisher:
    """What a service gives its relay: the publisher of the events it records (campaign events here)."""
    return broker.publisher(
        exchange=STATUS_EXCHANGE,
        routing_key="<tenant>.<campaign>.<kind>",
        title="test: campaign events",
        schema=CampaignEvent,
    )


@pytest.fixture
async def heard(amqp_url):
    """Every campaign event on sendpool.status, in arrival order."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(STATUS_EXCHANGE.name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="#")
    bodies: list[dict] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        bodies.append(json.loads(message.body))
        await message.ack()

    await queue.consume(on_message)
    yield bodies
    await connection.close()


def _events(count: int) -> list[CampaignEvent]:
    tenant = uuid.uuid4()
    return [
        CampaignEvent(kind=CampaignEventKind.COMPLETED, tenant_id=tenant, campaign_id=uuid.uuid4())
        for _ in range(count)
    ]


async def test_committed_events_are_published_in_order_and_rolled_back_ones_never(database, amqp_url, heard):
    committed, rolled_back = _events(700), _events(3)
    async with database.pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await outbox.record(conn, STATUS_EXCHANGE.name, rolled_back, channel=CHANNEL)
                raise RuntimeError("the change failed")
        async with conn.transaction():
            await outbox.record(conn, STATUS_EXCHANGE.name, committed, channel=CHANNEL)

    broker = RabbitBroker(amqp_url, logger=None)
    publisher = status_publisher(broker)
    async with broker:
        await broker.start()
        relay = outbox.OutboxRelay(database, publisher, schema="test", channel=CHANNEL, batch_size=300)
        relay.start()
        try:
            await eventually_async(
                lambda: len(heard) >= len(committed),
                timeout_seconds=10,
                interval_seconds=0.05,
                what="every committed event",
            )
        finally:
            await relay.stop()

    assert [body["campaign_id"] for body in heard] == [str(event.campaign_id) for event in committed]
    assert await database.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_what_is_recorded_while_the_broker_is_unreachable_goes_out_once_it_is_back(
    database, amqp_url, heard
):
    # A broker URL nobody listens on: the relay's rounds fail, are logged and counted, and retried.
    unreachable = RabbitBroker(f"amqp://guest:guest@127.0.0.1:{free_port()}/", logger=None)
    relay = outbox.OutboxRelay(database, status_publisher(unreachable), schema="test", channel=CHANNEL)
    relay.start()
    events = _events(5)
    async with database.pool.acquire() as conn, conn.transaction():
        await outbox.record(conn, STATUS_EXCHANGE.name, events, channel=CHANNEL)
    await asyncio.sleep(1.5)
    await relay.stop()
    assert heard == []
    assert await database.pool.fetchval("SELECT count(*) FROM outbox") == len(events)

    broker = RabbitBroker(amqp_url, logger=None)
    publisher = status_publisher(broker)
    async with broker:
        await broker.start()
        relay = outbox.OutboxRelay(database, publisher, schema="test", channel=CHANNEL)
        relay.start()
        try:
            await eventually_async(
                lambda: len(heard) == len(events),
                timeout_seconds=10,
                interval_seconds=0.05,
                what="the events kept while the broker was away",
            )
        finally:
            await relay.stop()
    assert [body["campaign_id"] for body in heard] == [str(event.campaign_id) for event in events]


async def test_a_notification_wakes_the_relay_long_before_its_poll(database, amqp_url, heard):
    broker = RabbitBroker(amqp_url, logger=None)
    publisher = status_publisher(broker)
    async with broker:
        await broker.start()
        relay = outbox.OutboxRelay(database, publisher, schema="test", channel=CHANNEL, poll_seconds=30)
        relay.start()
        try:
            await asyncio.sleep(0.5)  # listening by now, and waiting for its 30 s poll
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with database.pool.acquire() as conn, conn.transaction():
                await outbox.record(conn, STATUS_EXCHANGE.name, _events(1), channel=CHANNEL)
            await eventually_async(
                lambda: len(heard) == 1, timeout_seconds=5, interval_seconds=0.05, what="the event"
            )
            assert loop.time() - started < 2
        finally:
            await relay.stop()
