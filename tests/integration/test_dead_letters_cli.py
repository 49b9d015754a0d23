"""`sendpool dead-letters list` and `replay` against real RabbitMQ, on dead letters made the two
real ways: by a consumer's middleware (malformed messages) and by RabbitMQ (a delivery limit)."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aio_pika
import pytest
from pydantic import BaseModel

from shared.messaging import declare_dead_letters, make_broker
from shared.topology import DEAD_QUEUE, DELIVERY_LIMIT, work_queue
from tests.integration.tcp_proxy import fresh_vhost
from tests.support.infra import delete_vhost

REPO = Path(__file__).resolve().parents[2]
ORDERS, OTHER, CRASHY = "dl-test.orders", "dl-test.other", "dl-test.crashy"
MALFORMED = b'{"order_id": "not a number"}'


class Order(BaseModel):
    order_id: int


@pytest.fixture
def own_amqp_url():
    url = fresh_vhost()
    yield url
    delete_vhost(url)


async def sendpool(amqp_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SENDPOOL_AMQP_URL": amqp_url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ops.cli", "dead-letters", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def depths(channel: aio_pika.abc.AbstractChannel, *names: str) -> list[int]:
    return [
        (await channel.declare_queue(name, passive=True)).declaration_result.message_count for name in names
    ]


async def wait_for_depth(channel, name: str, depth: int) -> None:
    deadline = time.monotonic() + 20
    while (await depths(channel, name))[0] != depth:
        assert time.monotonic() < deadline, f"{name} never held {depth} message(s)"
        await asyncio.sleep(0.2)


async def dead_letter_through_the_delivery_limit(channel, message_id: str) -> None:
    """What RabbitMQ does to a message whose consumer crashes on it every time: past the queue's
    delivery limit it dead-letters it itself. basic.reject with requeue counts as a failed delivery
    on every RabbitMQ version (4.3 no longer counts basic.nack)."""
    queue = await channel.declare_queue(CRASHY, passive=True)
    await channel.default_exchange.publish(
        aio_pika.Message(b'{"order_id": 4}', message_id=message_id, content_type="application/json"),
        routing_key=CRASHY,
    )
    for _ in range(DELIVERY_LIMIT + 1):
        message = await queue.get(no_ack=False, fail=False, timeout=5)
        if message is None:
            break
        await message.reject(requeue=True)


async def test_dead_letters_are_listed_without_being_consumed_and_replayed_once_by_filter(own_amqp_url):
    broker = make_broker(own_amqp_url, "dead-letters-test", prefetch=10)
    handled: list[int] = []

    @broker.subscriber(work_queue(ORDERS))
    async def on_order(order: Order) -> None:
        handled.append(order.order_id)

    @broker.subscriber(work_queue(OTHER))
    async def on_other(order: Order) -> None:
        handled.append(order.order_id)

    connection = await aio_pika.connect(own_amqp_url)
    async with connection:
        channel = await connection.channel()
        async with broker:
            await broker.start()
            await declare_dead_letters(broker)
            await broker.declare_queue(work_queue(CRASHY))
            for message_id, queue in (("bad-1", ORDERS), ("bad-2", ORDERS), ("bad-3", OTHER)):
                await broker.publish(
                    MALFORMED, queue=queue, message_id=message_id, content_type="application/json"
                )
                await wait_for_depth(channel, DEAD_QUEUE.name, int(message_id[-1]))
            await dead_letter_through_the_delivery_limit(channel, "crashed-4")
            await wait_for_depth(channel, DEAD_QUEUE.name, 4)
        assert handled == []  # the consumers stop here, so what is replayed stays in its queue to be seen

        # list: everything, in order, with why and from where; and nothing is consumed by listing.
        for _ in range(2):
            listed = await sendpool(own_amqp_url, "list", "--json")
            assert listed.returncode == 0, listed.stderr
            letters = json.loads(listed.stdout)
            assert [letter["message_id"] for letter in letters] == ["bad-1", "bad-2", "bad-3", "crashed-4"]
            assert await depths(channel, DEAD_QUEUE.name) == [4]
        bad, crashed = letters[0], letters[3]
        assert bad["dead_lettered_by"] == "sendpool" and bad["reason"].startswith("malformed message")
        assert bad["source"] == f"(default)/{ORDERS}" and bad["queue"] == ORDERS
        assert bad["size_bytes"] == len(MALFORMED)
        assert 0 <= bad["age_seconds"] < 120
        assert crashed["dead_lettered_by"] == "rabbitmq" and "delivery_limit" in crashed["reason"]
        assert crashed["queue"] == CRASHY and crashed["x_death"][0]["reason"] == "delivery_limit"
        assert crashed["x_first_death"]["queue"] == CRASHY
        assert crashed["age_seconds"] is not None

        filtered = json.loads((await sendpool(own_amqp_url, "list", "--json", "--source", OTHER)).stdout)
        assert [letter["message_id"] for letter in filtered] == ["bad-3"]
        limited = await sendpool(own_amqp_url, "list", "--reason-contains", "MALFORMED", "--limit", "2")
        assert "bad-1" in limited.stdout and "bad-2" in limited.stdout and "bad-3" not in limited.stdout
        assert "2 shown of 4" in limited.stdout

        # A dry run changes nothing.
        dry = await sendpool(own_amqp_url, "replay", "--dry-run", "--source", f"*/{ORDERS}")
        assert (
            dry.returncode == 0 and "would replay bad-1" in dry.stdout and "would replay bad-2" in dry.stdout
        )
        assert await depths(channel, DEAD_QUEUE.name, ORDERS) == [4, 0]

        # replay by filter: back on their queue, the others stay dead; again, and nothing more is sent.
        for replayed_before in (2, 0):
            replay = await sendpool(own_amqp_url, "replay", "--source", ORDERS)
            assert replay.returncode == 0, replay.stderr
            assert f"{replayed_before} dead letter(s) replayed" in replay.stdout
            assert await depths(channel, DEAD_QUEUE.name, ORDERS) == [2, 2]
        back = [await (await channel.declare_queue(ORDERS, passive=True)).get(no_ack=True) for _ in range(2)]
        assert [message.message_id for message in back] == ["bad-1", "bad-2"]
        for message in back:
            assert not any(
                key.startswith(("x-sendpool-", "x-death", "x-first-death")) for key in message.headers
            )
            # The dead letter's own count (that of sendpool.dead, raised by every list) is not carried
            # over: its consumer would take the message for one on its last delivery.
            assert message.headers.get("x-delivery-count", 0) == 0
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT

        # RabbitMQ's own dead letter goes back to the queue it was dead-lettered from.
        replay = await sendpool(own_amqp_url, "replay", "--reason-contains", "delivery_limit")
        assert replay.returncode == 0 and "replayed crashed-4" in replay.stdout
        assert await depths(channel, DEAD_QUEUE.name, CRASHY) == [1, 1]
        crashy = await (await channel.declare_queue(CRASHY, passive=True)).get(no_ack=True)
        assert crashy.message_id == "crashed-4" and "x-death" not in crashy.headers

        # One that cannot be published (its queue is gone) stays in sendpool.dead, and says so.
        await channel.queue_delete(OTHER)
        kept = await sendpool(own_amqp_url, "replay", "--message-id", "bad-3")
        assert kept.returncode == 1 and "kept bad-3" in kept.stderr
        assert await depths(channel, DEAD_QUEUE.name) == [1]
        assert [
            letter["message_id"]
            for letter in json.loads((await sendpool(own_amqp_url, "list", "--json")).stdout)
        ] == ["bad-3"]
