"""Throughput of one service alone: the router routing, a delivery worker sending.

Each stage stops the service under test, fills its input queue, starts it again and times it
until the queue is drained and its output is all there, with the services downstream of it
stopped so they take no CPU from it.
"""

import asyncio
import logging
import time
import uuid

import aio_pika

from shared.contracts import SendRequested
from shared.topology import SEND_EXCHANGE, SEND_QUEUE, SEND_ROUTING_KEY, delivery_queue_name
from tools.stack.campaigns import ProvisionedCampaign, campaign_content
from tools.stack.infra import queue_depths
from tools.stack.run import Stack
from tools.stack.sinks import SmtpSinks
from tools.stack.waiting import eventually

log = logging.getLogger("sendpool.bench")


async def _publish_send_requests(
    amqp_url: str, provisioned: ProvisionedCampaign, messages: int, body_bytes: int
) -> None:
    content = campaign_content(body_bytes)
    run_id = uuid.uuid4()  # a run the scheduler does not know: it ignores these messages' statuses
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(SEND_EXCHANGE.name)
        for start in range(0, messages, 500):
            batch = [
                SendRequested(
                    message_id=uuid.uuid4(), tenant_id=provisioned.tenant_id, campaign_id=provisioned.campaign_id,
                    run_id=run_id, recipient=f"stage{n:06d}@example.com", content=content,
                )
                for n in range(start, min(start + 500, messages))
            ]  # fmt: skip
            await asyncio.gather(*(
                exchange.publish(
                    aio_pika.Message(m.model_dump_json().encode(), content_type="application/json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=SEND_ROUTING_KEY,
                )
                for m in batch
            ))  # fmt: skip


def measure_router_then_delivery(
    stack: Stack,
    sinks: SmtpSinks,
    provisioned: ProvisionedCampaign,
    messages: int,
    *,
    body_bytes: int,
    timeout: float,
) -> tuple[float, float]:
    """Messages per second of the router alone, then of one delivery worker alone."""
    amqp_url = stack.amqp_url
    server_queues = [delivery_queue_name("smtp", server.id) for server in provisioned.servers]
    for name in ("scheduler", "delivery", "router"):
        stack.stop_service(name)
    asyncio.run(_publish_send_requests(amqp_url, provisioned, messages, body_bytes))

    stack.start_again("router")
    started = time.monotonic()

    def routed_all() -> bool:
        waiting, *queued = asyncio.run(queue_depths(amqp_url, SEND_QUEUE.name, *server_queues))
        return waiting == 0 and sum(queued) >= messages

    eventually(
        routed_all,
        timeout_seconds=timeout,
        interval_seconds=0.05,
        what=f"the router to route {messages} messages",
    )
    router_rate = messages / (time.monotonic() - started)
    log.info("router alone: %d messages routed at %.0f msgs/s", messages, router_rate)

    stack.stop_service("router")
    received_before = sum(sinks.counts())
    stack.start_again("delivery")
    started = time.monotonic()
    eventually(
        lambda: sum(sinks.counts()) - received_before >= messages,
        timeout_seconds=timeout,
        interval_seconds=0.05,
        what=f"delivery of {messages} messages",
    )
    delivery_rate = messages / (time.monotonic() - started)
    log.info("delivery worker alone: %d messages sent at %.0f msgs/s", messages, delivery_rate)
    return router_rate, delivery_rate
