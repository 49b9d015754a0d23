"""Everything the router publishes at once: to per-server queues, status events, back to routing.

The use cases hand over one message at a time and wait for its confirm; what many of them hand
over while a publish is under way goes out together in the next one (`BatchPublisher`, a group
commit with no timer), as the batch contracts: a `DeliveryBatch` per server queue, a
`StatusBatch` per campaign and status, a `SendBatch` back to routing or per wait queue. So the
recipients of one `SendBatch` routed together leave together, and a lone message goes at once.

What must not be lost with a stop (`campaign_stopped`, `held`) goes through the outbox instead
(see `held_store`).
"""

import asyncio
from uuid import UUID

from faststream.rabbit import RabbitBroker, RabbitQueue

from services.router.adapters.publishers import RouterPublishers
from shared.batch_publishing import queued_batches, queued_send_batches, send_batches, status_batches
from shared.contracts import DeliveryBatch, DeliveryRequested, SendBatch, SendRequested, StatusEvent
from shared.topology import delay_queue, delay_step_within, delivery_queue


class RabbitOutbound:
    def __init__(self, broker: RabbitBroker, publishers: RouterPublishers) -> None:
        self._broker = broker
        self._publishers = publishers
        self._declared: set[str] = set()
        self._declaring: dict[str, asyncio.Lock] = {}
        self._deliveries = queued_batches(publishers.deliveries, DeliveryBatch.of)
        self._statuses = status_batches(publishers.status)
        self._back_to_routing = send_batches(publishers.back_to_routing)
        self._waits = queued_send_batches(publishers.delayed)

    async def _ensure(self, queue: RabbitQueue) -> str:
        # Declared by the publisher, so a message published before any consumer started is kept;
        # once, not by each of the recipients of a batch that reach a new queue together.
        if queue.name not in self._declared:
            async with self._declaring.setdefault(queue.name, asyncio.Lock()):
                if queue.name not in self._declared:
                    await self._broker.declare_queue(queue)
                    self._declared.add(queue.name)
        return queue.name

    async def to_server(self, vendor: str, server_id: UUID, message: DeliveryRequested) -> None:
        queue_name = await self._ensure(delivery_queue(vendor, server_id))
        await self._deliveries.publish((queue_name, message))

    async def status(self, event: StatusEvent) -> None:
        await self._statuses.publish(event)

    async def wait(self, message: SendRequested, seconds: float) -> float:
        step = delay_step_within(seconds)
        queue_name = await self._ensure(delay_queue(step))
        await self._waits.publish((queue_name, message))
        return float(step)

    async def back_to_routing(self, message: SendRequested) -> None:
        await self._back_to_routing.publish(message)

    async def release(self, messages: list[SendRequested]) -> None:
        # Not through the group commit: a batch of held messages is a batch already, and goes out
        # as one message (one per run), not split between the flush under way and the next.
        publish = self._publishers.back_to_routing.publish
        await asyncio.gather(*(publish(batch.model_dump_json().encode()) for batch in SendBatch.of(messages)))
