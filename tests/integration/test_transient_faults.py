"""A database outage is waited out in the consumer: its messages neither spend their delivery limit
nor end in sendpool.dead (`shared.messaging.RetryTransientFaults`), against real RabbitMQ and a
real PostgreSQL made unreachable by a proxy the test takes down."""

import asyncio
import time
import uuid

import aio_pika
import asyncpg
import pytest
from faststream.rabbit import RabbitMessage

from shared.messaging import declare_dead_letters, make_broker
from shared.metrics import REGISTRY
from shared.topology import DEAD_QUEUE, DELIVERY_LIMIT, work_queue
from tests.integration.tcp_proxy import fresh_vhost, proxy_in_front_of
from tests.support.infra import delete_vhost
from tests.support.waiting import eventually_async

OUTAGE_SECONDS = 21.0
"""Longer than every pause of today's requeue path together (at most 2 s per delivery, ten deliveries)."""


@pytest.fixture
def own_amqp_url():
    url = fresh_vhost()
    yield url
    delete_vhost(url)


@pytest.fixture
async def table(database_url):
    name = f"transient_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(database_url)
    await connection.execute(f"CREATE TABLE {name} (message_id text PRIMARY KEY, written_at timestamptz)")
    yield name, connection
    await connection.execute(f"DROP TABLE {name}")
    await connection.close()


async def queue_depths(amqp_url: str, *names: str) -> list[int]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        return [
            (await channel.declare_queue(name, passive=True)).declaration_result.message_count
            for name in names
        ]


def retries_counted(service: str) -> float:
    return sum(
        REGISTRY.get_sample_value("sendpool_transient_retries_total", {"service": service, "fault": fault})
        or 0.0
        for fault in ("database", "network", "timeout")
    )


async def consumer_writing_through(proxy_url: str, amqp_url: str, table: str, service: str):
    """A consumer as the services have one: `make_broker`'s middlewares, a work queue, a pool."""
    pool = await asyncpg.create_pool(proxy_url, min_size=1, max_size=2, timeout=2)
    broker = make_broker(amqp_url, service, prefetch=10)
    queue = work_queue(f"{service}.writes")
    deliveries: list[int] = []

    @broker.subscriber(queue)
    async def write(body: dict, message: RabbitMessage) -> None:
        deliveries.append(int((message.headers or {}).get("x-delivery-count", 0)))
        async with pool.acquire(timeout=2) as connection:
            await connection.execute(
                f"INSERT INTO {table} VALUES ($1, now()) ON CONFLICT DO NOTHING", body["id"]
            )

    return broker, pool, queue, deliveries


async def test_a_database_outage_is_waited_out_without_spending_the_delivery_limit(
    own_amqp_url, database_url, table
):
    table_name, direct = table
    service = f"transient-{uuid.uuid4().hex[:6]}"
    proxy = await proxy_in_front_of(database_url)
    broker, pool, queue, deliveries = await consumer_writing_through(
        proxy.url(database_url), own_amqp_url, table_name, service
    )
    async with broker:
        await broker.start()
        await declare_dead_letters(broker)

        await proxy.down()
        down_at = time.monotonic()
        await broker.publish(
            {"id": "during-outage"}, queue=queue.name, message_id="during-outage", persist=True
        )
        await asyncio.sleep(OUTAGE_SECONDS)
        assert await direct.fetchval(f"SELECT count(*) FROM {table_name}") == 0, (
            "the database was unreachable"
        )
        await proxy.up()

        await eventually_async(
            lambda: direct.fetchval(
                f"SELECT written_at FROM {table_name} WHERE message_id = $1", "during-outage"
            ),
            timeout_seconds=45,
            interval_seconds=0.5,
            what="the message processed once the database was back",
        )
        # The consumer was down for longer than DELIVERY_LIMIT requeues with today's pauses take; every
        # call was on the first delivery: the message was never nacked, its delivery limit is whole.
        assert time.monotonic() - down_at > OUTAGE_SECONDS
        assert len(deliveries) > 3 and set(deliveries) == {0}, deliveries
        assert retries_counted(service) >= len(deliveries) - 1
    await pool.close()

    dead, left = await queue_depths(own_amqp_url, DEAD_QUEUE.name, queue.name)
    assert (dead, left) == (0, 0), "nothing in sendpool.dead and nothing left to process"
    assert DELIVERY_LIMIT == 10


async def test_a_consumer_that_stops_during_an_outage_hands_its_waiting_message_back_at_once(
    own_amqp_url, database_url, table
):
    table_name, _ = table
    service = f"transient-{uuid.uuid4().hex[:6]}"
    proxy = await proxy_in_front_of(database_url)
    broker, pool, queue, deliveries = await consumer_writing_through(
        proxy.url(database_url), own_amqp_url, table_name, service
    )
    await broker.start()
    await declare_dead_letters(broker)
    await proxy.down()
    await broker.publish({"id": "at-shutdown"}, queue=queue.name, message_id="at-shutdown", persist=True)
    await eventually_async(
        lambda: len(deliveries) >= 3,  # waiting: 0.5 s, then 1 s, then 2 s ...
        timeout_seconds=10,
        interval_seconds=0.1,
        what="the handler called again while the database is away",
    )

    stopping = time.monotonic()
    await broker.stop()
    took = time.monotonic() - stopping
    await pool.close()
    await proxy.up()

    assert took < 5, f"stopping took {took:.1f}s: the waiting message held the consumer"
    ready, dead = await queue_depths(own_amqp_url, queue.name, DEAD_QUEUE.name)
    assert (ready, dead) == (1, 0), "the message is back in its queue for another replica, not dead"


async def test_a_malformed_message_still_goes_straight_to_sendpool_dead(own_amqp_url):
    broker = make_broker(own_amqp_url, f"transient-{uuid.uuid4().hex[:6]}", prefetch=10)
    queue = work_queue(f"malformed-{uuid.uuid4().hex[:6]}")
    calls: list[int] = []

    @broker.subscriber(queue)
    async def handle(body: dict) -> None:
        calls.append(1)
        raise ValueError("never reached")  # pragma: no cover - the body does not parse

    async with broker:
        await broker.start()
        await declare_dead_letters(broker)
        await broker.publish(b"not json", queue=queue.name, message_id="malformed")

        async def dead_letters() -> int:
            return (await queue_depths(own_amqp_url, DEAD_QUEUE.name))[0]

        await eventually_async(
            dead_letters, timeout_seconds=10, interval_seconds=0.2, what="a message in sendpool.dead"
        )

    assert await queue_depths(own_amqp_url, DEAD_QUEUE.name, queue.name) == [1, 0]
    assert calls == []
