"""Everything the router publishes at once: to per-server queues, status events, back to routing.

What must not be lost with a stop (`campaign_stopped`, `held`) goes through the outbox instead
(see `held_store`).
"""

from uuid import UUID

from faststream.rabbit import RabbitBroker, RabbitQueue

from services.router.adapters.publishers import RouterPublishers
from shared.contracts import DeliveryRequested, SendRequested, StatusEvent
from shared.topology import delay_queue, delay_step_within, delivery_queue


class RabbitOutbound:
    def __init__(self, broker: RabbitBroker, publishers: RouterPublishers) -> None:
        self._broker = broker
        self._publishers = publishers
        self._declared: set[str] = set()

    async def _ensure(self, queue: RabbitQueue) -> str:
        # Declared by the publisher, so a message published before any consumer started is kept.
        if queue.name not in self._declared:
            await self._broker.declare_queue(queue)
            self._declared.add(queue.name)
        return queue.name

    async def to_server(self, vendor: str, server_id: UUID, message: DeliveryRequested) -> None:
        queue_name = await self._ensure(delivery_queue(vendor, server_id))
        await self._publishers.deliveries.publish(
            message.model_dump_json().encode(), queue=queue_name, message_id=str(message.send.message_id)
        )

    async def status(self, event: StatusEvent) -> None:
        await self._publishers.status.publish(event.model_dump_json().encode(), routing_key=event.routing_key)

    async def wait(self, message: SendRequested, seconds: float) -> float:
        step = delay_step_within(seconds)
        queue_name = await self._ensure(delay_queue(step))
        await self._publishers.delayed.publish(
            message.model_dump_json().encode(), queue=queue_name, message_id=str(message.message_id)
        )
        return float(step)

    async def back_to_routing(self, message: SendRequested) -> None:
        await self._publishers.back_to_routing.publish(
            message.model_dump_json().encode(), message_id=str(message.message_id)
        )
