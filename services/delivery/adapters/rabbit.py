"""What the worker publishes to RabbitMQ, with publisher confirms: statuses, messages going back
through routing (now or after a delay), and server health."""

from faststream.rabbit import RabbitBroker

from services.delivery.adapters.publishers import DeliveryPublishers
from shared.contracts import SendRequested, ServerHealthEvent, StatusEvent
from shared.topology import delay_queue, delay_step


class RabbitOutbound:
    def __init__(self, broker: RabbitBroker, publishers: DeliveryPublishers) -> None:
        self._broker = broker
        self._publishers = publishers
        self._declared_delays: set[int] = set()

    async def publish_status(self, event: StatusEvent) -> None:
        await self._publishers.status.publish(event.model_dump_json().encode(), routing_key=event.routing_key)

    async def retry_later(self, send: SendRequested, wait_seconds: float) -> float:
        """Park the message in the delay queue of the next step up; when its TTL expires RabbitMQ
        dead-letters it to `sendpool.send`, so the retry is routed afresh (no consumer sleeps on it)."""
        step = delay_step(wait_seconds)
        queue = delay_queue(step)
        if step not in self._declared_delays:
            await self._broker.declare_queue(queue)
            self._declared_delays.add(step)
        await self._publishers.delayed.publish(send.model_dump_json().encode(), queue=queue)
        return float(step)

    async def hand_back(self, send: SendRequested) -> None:
        await self._publishers.back_to_routing.publish(
            send.model_dump_json().encode(), message_id=str(send.message_id)
        )

    async def publish_health(self, event: ServerHealthEvent) -> None:
        # Not mandatory (see `DeliveryPublishers.health`): nobody listening is no error.
        await self._publishers.health.publish(event.model_dump_json().encode(), routing_key=event.routing_key)
