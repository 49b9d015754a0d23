"""What the worker publishes to RabbitMQ, with publisher confirms: statuses, messages going back
through routing (now or after a delay), and server health."""

from faststream.rabbit import RabbitBroker

from shared.contracts import SendRequested, ServerHealthEvent, StatusEvent
from shared.messaging import publish_model
from shared.topology import (
    HEALTH_EXCHANGE,
    SEND_EXCHANGE,
    SEND_ROUTING_KEY,
    STATUS_EXCHANGE,
    delay_queue,
    delay_step,
)


class RabbitOutbound:
    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker
        self._declared_delays: set[int] = set()

    async def publish_status(self, event: StatusEvent) -> None:
        await publish_model(self._broker, event, exchange=STATUS_EXCHANGE, routing_key=event.routing_key)

    async def retry_later(self, send: SendRequested, wait_seconds: float) -> float:
        """Park the message in the delay queue of the next step up; when its TTL expires RabbitMQ
        dead-letters it to `sendpool.send`, so the retry is routed afresh (no consumer sleeps on it)."""
        step = delay_step(wait_seconds)
        queue = delay_queue(step)
        if step not in self._declared_delays:
            await self._broker.declare_queue(queue)
            self._declared_delays.add(step)
        await publish_model(self._broker, send, queue=queue)
        return float(step)

    async def hand_back(self, send: SendRequested) -> None:
        await publish_model(
            self._broker,
            send,
            exchange=SEND_EXCHANGE,
            routing_key=SEND_ROUTING_KEY,
            message_id=str(send.message_id),
        )

    async def publish_health(self, event: ServerHealthEvent) -> None:
        # Not mandatory: health is news for whoever listens (each router replica binds a queue of
        # its own), and with no router running there is nobody to tell, which is no error.
        await publish_model(
            self._broker, event, exchange=HEALTH_EXCHANGE, routing_key=event.routing_key, mandatory=False
        )
