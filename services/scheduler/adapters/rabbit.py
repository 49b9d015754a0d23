"""The scheduler's side of RabbitMQ: what it publishes and the topology it relies on."""

from faststream.rabbit import RabbitBroker

from shared.contracts import SendRequested
from shared.messaging import declare_dead_letters, publish_model
from shared.topology import SEND_EXCHANGE, SEND_QUEUE, SEND_ROUTING_KEY, STATUS_EXCHANGE


class RabbitPublisher:
    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def publish_send(self, request: SendRequested) -> None:
        await publish_model(self._broker, request, exchange=SEND_EXCHANGE, routing_key=SEND_ROUTING_KEY)


async def declare_topology(broker: RabbitBroker) -> None:
    """Declares what the scheduler publishes into, before anything is published.

    The router's queue is declared and bound here too, so that send requests published while
    the router is not running yet wait in its queue instead of being returned as unroutable.
    """
    await declare_dead_letters(broker)
    await broker.declare_exchange(STATUS_EXCHANGE)
    send_exchange = await broker.declare_exchange(SEND_EXCHANGE)
    send_queue = await broker.declare_queue(SEND_QUEUE)
    await send_queue.bind(send_exchange, routing_key=SEND_ROUTING_KEY)
