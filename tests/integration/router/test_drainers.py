"""The failover drainer against real RabbitMQ: what it empties out of a server queue goes back to
routing, recipient by recipient, and a message RabbitMQ redelivered says so on its way."""

import asyncio
from uuid import UUID, uuid4

import aio_pika

from services.router.adapters.drainers import QueueDrainers
from services.router.domain.view import RoutingView
from shared.contracts import (
    CatalogSnapshot,
    DeliveryBatch,
    DeliveryRequested,
    MessageContent,
    RoutingDecision,
    SendRequested,
    ServerState,
    ServerView,
)
from shared.messaging import make_broker
from shared.topology import delivery_queue, delivery_queue_name

TENANT = uuid4()


class RecordingRouter:
    """Stands in for the router: the drainer asks it for the view and hands it what it drains."""

    def __init__(self, server: ServerView) -> None:
        self.view = RoutingView()
        self.view.load(CatalogSnapshot(last_event_id=1, servers=[server], plans=[], tenants=[]))
        self.rerouted: list[tuple[UUID, bool]] = []

    async def reroute_from(self, server_id: UUID, message: DeliveryRequested, redelivered: bool) -> None:
        self.rerouted.append((message.send.message_id, redelivered))


CAMPAIGN, RUN = uuid4(), uuid4()


def delivery_for(server_id: UUID) -> DeliveryRequested:
    send = SendRequested(
        message_id=uuid4(),
        tenant_id=TENANT,
        campaign_id=CAMPAIGN,
        run_id=RUN,
        recipient="reader@inbox.example",
        content=MessageContent(from_address="news@sender.example", subject="hello"),
    )
    return DeliveryRequested(
        send=send, server_id=server_id, vendor="smtp", decision=RoutingDecision(mode="use_all", weights={})
    )


async def test_the_drainer_marks_what_a_stopped_worker_had_taken_as_redelivered(amqp_url):
    server = ServerView(
        id=uuid4(), tenant_id=TENANT, name="paused", type="smtp", vendor="smtp", state=ServerState.PAUSED
    )
    queue_name = delivery_queue_name("smtp", server.id)
    taken = [delivery_for(server.id), delivery_for(server.id)]
    # A batch of two, which a worker takes and drops; and a message an earlier version queued alone.
    [taken_batch] = DeliveryBatch.of(taken)
    untouched = delivery_for(server.id)
    broker = make_broker(amqp_url, "router-drainer-test")
    router = RecordingRouter(server)
    drainers = QueueDrainers(broker, router)
    async with broker:
        await broker.start()
        await broker.declare_queue(delivery_queue("smtp", server.id))
        for message in (taken_batch, untouched):
            await broker.publish(message, queue=queue_name)

        # A worker takes the first message and dies before settling it: RabbitMQ redelivers it.
        worker = await aio_pika.connect(amqp_url)
        channel = await worker.channel()
        await channel.set_qos(prefetch_count=1)
        queue = await channel.get_queue(queue_name)
        in_hand = await queue.get(no_ack=False)
        assert DeliveryBatch.model_validate_json(in_hand.body) == taken_batch
        await worker.close()

        await drainers.sync()
        for _ in range(100):
            if len(router.rerouted) == 3:
                break
            await asyncio.sleep(0.05)
        await drainers.stop_all()

    assert sorted(router.rerouted) == sorted(
        [(m.send.message_id, True) for m in taken] + [(untouched.send.message_id, False)]
    )
