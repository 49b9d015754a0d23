"""The bounces service's consumers: status events, folded into the outcome counters."""

from collections.abc import Sequence

from faststream.rabbit import RabbitBroker

from services.bounces.domain.outcomes import COUNTED
from shared import tracing
from shared.batching import Batcher
from shared.contracts import CampaignEvent, IncomingStatuses, StatusEvent, status_events_of
from shared.messaging import batch_subscription
from shared.topology import STATUS_EXCHANGE, status_queue

COUNTED_ROUTING_KEYS = [f"*.*.{status.value}" for status in sorted(COUNTED)]
"""Status batches are published as `<tenant>.<campaign>.<status>`."""
STATUS_QUEUE = status_queue("bounces", binding=COUNTED_ROUTING_KEYS[0])
"""Bound to the other counted statuses at startup (`bind_counted_statuses`): a queue declares one binding."""


def subscribe(
    broker: RabbitBroker, record_outcomes: Batcher[Sequence[StatusEvent], None], *, prefetch: int
) -> None:
    """`prefetch` messages of the status queue in hand at once (`SENDPOOL_BOUNCES_STATUS_PREFETCH`)."""

    @broker.subscriber(
        STATUS_QUEUE,
        STATUS_EXCHANGE,
        **batch_subscription(IncomingStatuses, prefetch),
    )
    async def on_status(body: IncomingStatuses) -> None:
        # Every event of a batch (or the single event of an earlier version) is counted in one go,
        # in the write the messages in hand share; the message is acked once it is written.
        if not isinstance(body, CampaignEvent):  # none is bound here; nothing to count in one
            events = status_events_of(body)
            with tracing.message_spans("bounces.count", events, attributes=tracing.status_attributes):
                await record_outcomes.submit(events)


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
