"""FastStream subscribers of the delivery worker: each decodes a message, calls one use case, returns.

A message that does not validate never reaches a handler: `shared.messaging.DeadLetterOnError`
moves it to `sendpool.dead` with the reason and the consumer goes on with the next one.
"""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from uuid import UUID

import structlog
from faststream.rabbit import RabbitBroker, RabbitResponse
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from services.delivery.app.fleet import ServerFleet
from services.delivery.app.probe import ProbeServer
from shared.contracts import CatalogEvent, DeliveryRequested, ProbeRequest
from shared.messaging import rpc_reply, stop_consuming
from shared.topology import CATALOG_EXCHANGE, catalog_events_queue, delivery_queue, probe_queue

log = structlog.get_logger("delivery.subscribers")

DeliverUseCase = Callable[[DeliveryRequested, bool], Awaitable[None]]


def subscribe_probes(broker: RabbitBroker, vendor: str, probe: ProbeServer) -> None:
    @broker.subscriber(probe_queue(vendor))
    async def answer_probe(request: ProbeRequest) -> RabbitResponse:
        return rpc_reply(await probe(request))


def subscribe_catalog_events(broker: RabbitBroker, vendor: str, fleet: ServerFleet) -> None:
    @broker.subscriber(catalog_events_queue(f"delivery-{vendor}"), CATALOG_EXCHANGE)
    async def follow_catalog(event: CatalogEvent) -> None:
        await fleet.apply(event)


class ServerQueueConsumers:
    """The per-server queues this process consumes, started and stopped while it runs."""

    def __init__(self, broker: RabbitBroker, vendor: str, deliver: DeliverUseCase) -> None:
        self._broker = broker
        self._vendor = vendor
        self._deliver = deliver
        self._subscribers: dict[UUID, RabbitSubscriber] = {}
        # Per server: stopping one queue waits for its messages in hand, which must not hold up the others.
        self._locks: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def consume(self, server_id: UUID) -> None:
        async with self._locks[server_id]:
            if server_id in self._subscribers:
                return
            deliver = self._deliver

            async def deliver_message(request: DeliveryRequested, message: RabbitMessage) -> None:
                await deliver(request, message.raw_message.redelivered)

            queue = delivery_queue(self._vendor, server_id)
            # Not persistent: this registry owns it, and the broker still drains it on shutdown.
            subscriber = self._broker.subscriber(queue, persistent=False)
            subscriber(deliver_message)
            await subscriber.start()
            self._subscribers[server_id] = subscriber
            log.info("consuming server queue", queue=queue.name)

    async def stop(self, server_id: UUID) -> None:
        async with self._locks[server_id]:
            subscriber = self._subscribers.pop(server_id, None)
            if subscriber is None:
                return
            await stop_consuming(subscriber)
            log.info("stopped consuming server queue", queue=delivery_queue(self._vendor, server_id).name)
