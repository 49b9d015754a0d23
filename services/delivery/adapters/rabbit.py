"""What the worker publishes to RabbitMQ, with publisher confirms: statuses, messages going back
through routing (now or after a delay), and server health.

The use case publishes one recipient at a time and waits for that recipient's confirm; the
statuses and the messages back to routing travel in batches all the same
(`shared.batch_publishing`): what the recipients of the batches in hand hand in while a publish is
under way goes out together in the next one, one broker message and one confirm for many. A lone
item goes out at once, without waiting for company. Health events are rare and stay single.
"""

from faststream.rabbit import RabbitBroker

from services.delivery.adapters.publishers import DeliveryPublishers
from shared.batch_publishing import queued_send_batches, send_batches, status_batches
from shared.contracts import SendRequested, ServerHealthEvent, StatusEvent
from shared.topology import delay_queue, delay_step


class RabbitOutbound:
    def __init__(
        self, broker: RabbitBroker, publishers: DeliveryPublishers, *, status_linger: float = 0.0
    ) -> None:
        """`status_linger`: how long a status event waits for others to travel with (`GroupCommit`)."""
        self._broker = broker
        self._publishers = publishers
        self._statuses = status_batches(publishers.status, linger=status_linger)
        self._back_to_routing = send_batches(publishers.back_to_routing)
        self._waiting = queued_send_batches(publishers.delayed)
        self._declared_delays: set[int] = set()

    async def publish_status(self, event: StatusEvent) -> None:
        await self._statuses.publish(event)

    async def retry_later(self, send: SendRequested, wait_seconds: float) -> float:
        """Park the message in the delay queue of the next step up; when its TTL expires RabbitMQ
        dead-letters it to `sendpool.send`, so the retry is routed afresh (no consumer sleeps on it)."""
        step = delay_step(wait_seconds)
        queue = delay_queue(step)
        if step not in self._declared_delays:
            # Before the first publish to it: a publish to a queue nobody declared yet is unroutable.
            await self._broker.declare_queue(queue)
            self._declared_delays.add(step)
        await self._waiting.publish((queue.name, send))
        return float(step)

    async def hand_back(self, send: SendRequested) -> None:
        await self._back_to_routing.publish(send)

    async def publish_health(self, event: ServerHealthEvent) -> None:
        # Not mandatory (see `DeliveryPublishers.health`): nobody listening is no error.
        await self._publishers.health.publish(event.model_dump_json().encode(), routing_key=event.routing_key)
