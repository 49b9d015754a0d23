"""The transactional outbox (shared/outbox.py) against real PostgreSQL and RabbitMQ: what commits
is published, in order, whenever the broker can take it; what rolls back never is."""

import asyncio
import json
import uuid

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from shared import outbox
from shared.contracts import CampaignEvent, CampaignEventKind
from shared.db import create_pool
from shared.topology import STATUS_EXCHANGE
from tests.support.infra import create_database, drop_database, free_port

CHANNEL = "test_outbox"


@pytest.fixture
async def pool():
    url = create_database("sendpool_outbox")
    admin = await create_pool(url, "public", 4)
    await admin.execute(outbox.OUTBOX_TABLE)
    try:
        yield admin
    finally:
        await admin.close()
        drop_database(url)


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


async def _until(predicate, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_committed_events_are_published_in_order_and_rolled_back_ones_never(pool, amqp_url, heard):
    committed, rolled_back = _events(700), _events(3)
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await outbox.record(conn, STATUS_EXCHANGE.name, rolled_back, channel=CHANNEL)
                raise RuntimeError("the change failed")
        async with conn.transaction():
            await outbox.record(conn, STATUS_EXCHANGE.name, committed, channel=CHANNEL)

    broker = RabbitBroker(amqp_url, logger=None)
    async with broker:
        await broker.start()
        relay = outbox.OutboxRelay(pool, broker, schema="test", channel=CHANNEL, batch_size=300)
        relay.start()
        try:
            await _until(lambda: len(heard) >= len(committed))
        finally:
            await relay.stop()

    assert [body["campaign_id"] for body in heard] == [str(event.campaign_id) for event in committed]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_what_is_recorded_while_the_broker_is_unreachable_goes_out_once_it_is_back(
    pool, amqp_url, heard
):
    # A broker URL nobody listens on: the relay's rounds fail, are logged and counted, and retried.
    unreachable = RabbitBroker(f"amqp://guest:guest@127.0.0.1:{free_port()}/", logger=None)
    relay = outbox.OutboxRelay(pool, unreachable, schema="test", channel=CHANNEL)
    relay.start()
    events = _events(5)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.record(conn, STATUS_EXCHANGE.name, events, channel=CHANNEL)
    await asyncio.sleep(1.5)
    await relay.stop()
    assert heard == []
    assert await pool.fetchval("SELECT count(*) FROM outbox") == len(events)

    broker = RabbitBroker(amqp_url, logger=None)
    async with broker:
        await broker.start()
        relay = outbox.OutboxRelay(pool, broker, schema="test", channel=CHANNEL)
        relay.start()
        try:
            await _until(lambda: len(heard) == len(events))
        finally:
            await relay.stop()
    assert [body["campaign_id"] for body in heard] == [str(event.campaign_id) for event in events]


async def test_a_notification_wakes_the_relay_long_before_its_poll(pool, amqp_url, heard):
    broker = RabbitBroker(amqp_url, logger=None)
    async with broker:
        await broker.start()
        relay = outbox.OutboxRelay(pool, broker, schema="test", channel=CHANNEL, poll_seconds=30)
        relay.start()
        try:
            await asyncio.sleep(0.5)  # listening by now, and waiting for its 30 s poll
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with pool.acquire() as conn, conn.transaction():
                await outbox.record(conn, STATUS_EXCHANGE.name, _events(1), channel=CHANNEL)
            await _until(lambda: len(heard) == 1, timeout=5)
            assert loop.time() - started < 2
        finally:
            await relay.stop()
