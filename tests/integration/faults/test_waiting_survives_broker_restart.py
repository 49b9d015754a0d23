"""A message waiting in a delay queue survives a RabbitMQ restart and still comes back to routing.

Before: the delay queues were classic queues, whose dead-lettering is at most once. When their
TTL ran out in the seconds after `start_app`, `router.send-requested` (a quorum queue) had no
leader yet, RabbitMQ logged "leader not known. Command is dropped." and the messages were gone:
one restart in the middle of a 5,000-recipient campaign lost 493 of them.
"""

import asyncio
import subprocess

import aio_pika
import pytest

from shared.topology import SEND_EXCHANGE, SEND_QUEUE, SEND_ROUTING_KEY, delay_queue

pytestmark = pytest.mark.restarts_infrastructure

WAITING = 2000
WAIT_SECONDS = 5


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


async def _connect(amqp_url: str, timeout: float = 60.0) -> aio_pika.abc.AbstractConnection:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await aio_pika.connect(amqp_url)
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _declare(channel: aio_pika.abc.AbstractChannel) -> None:
    exchange = await channel.declare_exchange(SEND_EXCHANGE.name, aio_pika.ExchangeType.DIRECT, durable=True)
    send_queue = await channel.declare_queue(SEND_QUEUE.name, durable=True, arguments=SEND_QUEUE.arguments)
    await send_queue.bind(exchange, routing_key=SEND_ROUTING_KEY)
    wait = delay_queue(WAIT_SECONDS)
    await channel.declare_queue(wait.name, durable=True, arguments=wait.arguments)


async def _count(amqp_url: str) -> int:
    connection = await _connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(SEND_QUEUE.name, passive=True)
        return queue.declaration_result.message_count


async def test_messages_waiting_through_a_broker_restart_all_come_back(amqp_url):
    connection = await _connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await _declare(channel)
        wait_queue = delay_queue(WAIT_SECONDS).name
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        f'{{"n": {n}}}'.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    ),
                    routing_key=wait_queue,
                )
                for n in range(WAITING)
            )
        )
    # The waits run out while the broker is down, so every message is dead-lettered in the
    # seconds after it comes back, while the quorum queues are still electing their leaders.
    try:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        await asyncio.sleep(WAIT_SECONDS + 1)
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
        await asyncio.to_thread(rabbitmqctl, "await_startup")

    arrived = 0
    for _ in range(60):
        arrived = await _count(amqp_url)
        if arrived >= WAITING:
            break
        await asyncio.sleep(1)
    assert arrived == WAITING, f"{WAITING - arrived} of {WAITING} waiting messages were lost in the restart"
