"""Everything the router publishes at once: to per-server queues, status events, back to routing.

What must not be lost with a stop (`campaign_stopped`, `held`) goes through the outbox instead
(see `held_store`).
"""

from uuid import UUID

from faststream.rabbit import RabbitBroker, RabbitQueue

from shared.contracts import DeliveryRequested, SendRequested, StatusEvent
from shared.messaging import publish_model
from shared.topology import (
    SEND_EXCHANGE,
    SEND_ROUTING_KEY,
    STATUS_EXCHANGE,
    delay_queue,
    delay_step_within,
    delivery_queue,
)


class RabbitOutbound:
    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker
        self._declared: set[str] = set()

    async def _ensure(self, queue: RabbitQueue) -> str:
        # Declared by the publisher, so a message published before any consumer started is kept.
        if queue.name not in self._declared:
            await self._broker.declare_queue(queue)
            self._declared.add(queue.name)
        return queue.name

    async def to_server(self, vendor: str, server_id: UUID, message: DeliveryRequested) -> None:
        queue_name = await self._ensure(delivery_queue(vendor, server_id))
        await publish_model(self._broker, message, queue=queue_name, message_id=str(message.send.message_id))

    async def status(self, event: StatusEvent) -> None:
        await publish_model(self._broker, event, exchange=STATUS_EXCHANGE, routing_key=event.routing_key)

    async def wait(self, message: SendRequested, seconds: float) -> float:
        step = delay_step_within(seconds)
        queue_name = await self._ensure(delay_queue(step))
        await publish_model(self._broker, message, queue=queue_name, message_id=str(message.message_id))
        return float(step)

    async def back_to_routing(self, message: SendRequested) -> None:
        await publish_model(
            self._broker,
            message,
            exchange=SEND_EXCHANGE,
            routing_key=SEND_ROUTING_KEY,
            message_id=str(message.message_id),
        )
