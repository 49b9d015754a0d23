"""The scheduler's side of RabbitMQ: publishing send batches, and the topology it relies on.

What it publishes is declared in `adapters/publishers.py`, from which the AsyncAPI document is generated.
"""

import asyncio
from collections.abc import Sequence

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import CampaignEvent, SendBatch
from shared.messaging import declare_dead_letters
from shared.topology import SEND_EXCHANGE, SEND_QUEUE, SEND_ROUTING_KEY, STATUS_EXCHANGE


class RabbitSendPublisher:
    """Send batches onto sendpool.send, for the router."""

    def __init__(self, publisher: RabbitPublisher) -> None:
        self._publisher = publisher

    async def publish_batches(self, batches: Sequence[SendBatch]) -> None:
        # All at once on the channel; each publish returns with the broker's confirm.
        await asyncio.gather(
            *(self._publisher.publish(batch.model_dump_json().encode()) for batch in batches)
        )


class RabbitCampaignEventPublisher:
    """Campaign events straight onto sendpool.status, for those that need not go through the outbox."""

    def __init__(self, publisher: RabbitPublisher) -> None:
        self._publisher = publisher

    async def publish_events(self, events: Sequence[CampaignEvent]) -> None:
        await asyncio.gather(
            *(
                self._publisher.publish(
                    event.model_dump_json().encode(),
                    routing_key=event.routing_key,
                    # For whoever subscribes: an event nobody is bound to is dropped, not an error.
                    mandatory=False,
                )
                for event in events
            )
        )


async def declare_topology(broker: RabbitBroker) -> None:
    """Declares what the scheduler publishes into, before anything is published.

    The router's queue is declared and bound here too, so that send batches published while
    the router is not running yet wait in its queue instead of being returned as unroutable.
    """
    await declare_dead_letters(broker)
    await broker.declare_exchange(STATUS_EXCHANGE)
    send_exchange = await broker.declare_exchange(SEND_EXCHANGE)
    send_queue = await broker.declare_queue(SEND_QUEUE)
    await send_queue.bind(send_exchange, routing_key=SEND_ROUTING_KEY)
