"""A replica's own queue keeps what is published while the replica reconnects."""

import uuid

import aio_pika
from faststream.rabbit import RabbitBroker

from shared.topology import CATALOG_EXCHANGE, instance_queue


async def test_events_published_while_a_replica_is_disconnected_wait_for_it(amqp_url):
    queue = instance_queue("reconnect-test", "catalog-events", "catalog.#", uuid.uuid4().hex[:12])
    replica = RabbitBroker(amqp_url, logger=None)

    @replica.subscriber(queue, CATALOG_EXCHANGE)
    async def follow(event: dict) -> None:  # pragma: no cover - only its queue matters here
        pass

    async with replica:
        await replica.start()
    # The replica's connection is gone (RabbitMQ closes a connection whose channel fails) …

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(CATALOG_EXCHANGE.name)
        await exchange.publish(
            aio_pika.Message(b'{"kind": "server_changed"}'), routing_key="catalog.server_changed"
        )
        # … and what was published meanwhile is still there for it when it is back.
        kept = await channel.declare_queue(queue.name, passive=True)
        assert kept.declaration_result.message_count == 1
        assert queue.arguments["x-expires"] > 0, "and RabbitMQ removes it once the replica is gone for good"
        await kept.delete(if_unused=False, if_empty=False)
