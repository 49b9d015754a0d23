"""The bounces service's consumers: status events, folded into the outcome counters."""

from typing import Any

from faststream.rabbit import RabbitBroker
from pydantic import TypeAdapter

from services.bounces.domain.outcomes import COUNTED
from shared.batching import Batcher
from shared.contracts import CampaignEvent, StatusEvent
from shared.topology import STATUS_EXCHANGE, status_queue

COUNTED_ROUTING_KEYS = [f"*.*.{status.value}" for status in sorted(COUNTED)]
"""Status events are published as `<tenant>.<campaign>.<status>`."""
STATUS_QUEUE = status_queue("bounces", binding=COUNTED_ROUTING_KEYS[0])
"""Bound to the other counted statuses at startup (`bind_counted_statuses`): a queue declares one binding."""
StatusOrCampaign = TypeAdapter(StatusEvent | CampaignEvent)


def subscribe(broker: RabbitBroker, record_outcomes: Batcher[StatusEvent, None]) -> None:
    @broker.subscriber(STATUS_QUEUE, STATUS_EXCHANGE)
    async def on_status(body: dict[str, Any]) -> None:
        event = StatusOrCampaign.validate_python(body)
        if isinstance(event, StatusEvent):
            await record_outcomes.submit(event)


async def bind_counted_statuses(broker: RabbitBroker) -> None:
    """Bind the status queue to every status it counts, and to nothing else.

    Only the statuses it counts: `routed` and `held`, one or more per message, would cost a
    queue write and a parse each for nothing. Earlier versions bound everything ("#").
    """
    declared = await broker.declare_queue(STATUS_QUEUE)
    exchange = await broker.declare_exchange(STATUS_EXCHANGE)
    for key in COUNTED_ROUTING_KEYS[1:]:
        await declared.bind(exchange, routing_key=key)
    await declared.unbind(exchange, routing_key="#")
