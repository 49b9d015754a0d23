"""Throughput of one service alone: the router routing, a delivery worker sending.

Each stage stops the service under test, fills its input queue, starts it again and times it
until the queue is drained and its output is all there, with the services downstream of it
stopped so they take no CPU from it.

The router's input is `SendBatch`es of 250 recipients, as the scheduler publishes them; the router
has routed them all once its input queue is empty and its `sendpool_router_routed_total` counts
every message (a router that forwards one message per recipient is seen in the per-server queues'
depths instead). A router that dead-letters the batches (one older than the batch contracts) fails
the stage at once rather than at its timeout.
"""

import asyncio
import logging
import time
import uuid

import aio_pika
import httpx

from shared.contracts import SendBatch, SendRequested
from shared.topology import DEAD_QUEUE, SEND_EXCHANGE, SEND_QUEUE, SEND_ROUTING_KEY, delivery_queue_name
from tools.stack.campaigns import ProvisionedCampaign, campaign_content
from tools.stack.errors import RunFailed
from tools.stack.infra import queue_depths
from tools.stack.run import Stack
from tools.stack.sinks import SmtpSinks
from tools.stack.waiting import eventually

log = logging.getLogger("sendpool.bench")

ROUTED_METRIC = "sendpool_router_routed_total"


SEND_BATCH_SIZE = 250
"""Recipients per `SendBatch`, as the scheduler publishes them."""


async def _publish_send_batches(
    amqp_url: str, provisioned: ProvisionedCampaign, messages: int, body_bytes: int
) -> None:
    """`messages` recipients of the provisioned campaign, in `SendBatch`es of `SEND_BATCH_SIZE`."""
    content = campaign_content(body_bytes)
    run_id = uuid.uuid4()  # a run the scheduler does not know: it ignores these messages' statuses
    sends = [
        SendRequested(
            message_id=uuid.uuid4(), tenant_id=provisioned.tenant_id, campaign_id=provisioned.campaign_id,
            run_id=run_id, recipient=f"stage{n:06d}@example.com", content=content,
        )
        for n in range(messages)
    ]  # fmt: skip
    batches = SendBatch.of(sends, max_size=SEND_BATCH_SIZE)
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(SEND_EXCHANGE.name)
        for start in range(0, len(batches), 20):
            await asyncio.gather(*(
                exchange.publish(
                    aio_pika.Message(batch.model_dump_json().encode(), content_type="application/json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=SEND_ROUTING_KEY,
                )
                for batch in batches[start : start + 20]
            ))  # fmt: skip


def routed_in_metrics(metrics: str) -> int:
    """Messages a router has routed since it started: its `sendpool_router_routed_total`, summed
    over servers, in its Prometheus text; 0 before the first (a labelled counter has no sample yet)."""
    prefix = f"{ROUTED_METRIC}{{"
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(prefix)))


def _router_routed(router_url: str) -> int:
    return routed_in_metrics(httpx.get(f"{router_url}/metrics", timeout=5.0).text)


async def _dead_letters(amqp_url: str) -> int:
    """Messages in `sendpool.dead`; 0 while no service has declared it."""
    try:
        (depth,) = await queue_depths(amqp_url, DEAD_QUEUE.name)
    except aio_pika.exceptions.ChannelClosed:
        return 0
    return depth


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
    # The public stream's services read every status event: stopped too, so that a stage's figure is
    # the service's own (the pipeline figure is measured with every service running).
    for name in ("scheduler", "delivery", "router", "events", "webhooks"):
        if name in stack.services:
            stack.stop_service(name)
    dead_before = asyncio.run(_dead_letters(amqp_url))
    asyncio.run(_publish_send_batches(amqp_url, provisioned, messages, body_bytes))

    router = stack.start_again("router")
    started = time.monotonic()

    def routed_all() -> bool:
        waiting, *queued = asyncio.run(queue_depths(amqp_url, SEND_QUEUE.name, *server_queues))
        if waiting:
            return False
        # The router's own count; a router that publishes one message per recipient shows in the queues.
        if _router_routed(router.url) >= messages or sum(queued) >= messages:
            return True
        if (dead := asyncio.run(_dead_letters(amqp_url)) - dead_before) > 0:
            raise RunFailed(
                f"the router dead-lettered {dead} of the batches of {messages} messages "
                f"(does it accept SendBatch?); see {router.log_path}"
            )
        return False

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
