"""What the events service publishes: the public stream, declared on its broker for its AsyncAPI document."""

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from services.events.domain.stream import STREAM_DESCRIPTION
from shared.events import EventBatch
from shared.publishers import contract_publisher
from shared.topology import EVENTS_EXCHANGE


def public_stream_publisher(broker: RabbitBroker) -> RabbitPublisher:
    # Not mandatory: nobody may be bound yet (the tenants' systems bind their own queues), and an
    # event nobody listens to is still in the log.
    return contract_publisher(
        broker,
        "events",
        "public status stream",
        EventBatch,
        STREAM_DESCRIPTION,
        exchange=EVENTS_EXCHANGE,
        routing_key="<tenant>.<campaign>.<type>",
        mandatory=False,
    )


class RabbitEventPublisher:
    """Event batches onto `sendpool.events`, each returning with the broker's confirm."""

    def __init__(self, publisher: RabbitPublisher) -> None:
        self._publisher = publisher

    async def publish(self, batch: EventBatch) -> None:
        await self._publisher.publish(batch.model_dump_json().encode(), routing_key=batch.routing_key)


async def declare_topology(broker: RabbitBroker) -> None:
    """The public exchange exists before the first publish (and before any tenant binds to it)."""
    await broker.declare_exchange(EVENTS_EXCHANGE)
