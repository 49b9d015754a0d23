"""The events service's consumer: everything on `sendpool.status`, logged and published again."""

from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from services.events.app.ingest import RecordEvents
from services.events.domain.translation import events_of
from shared import tracing
from shared.contracts import CampaignEvent, IncomingStatuses, status_events_of
from shared.messaging import batch_subscription
from shared.topology import STATUS_EXCHANGE, status_queue

STATUS_QUEUE = status_queue("events")
"""Every status and campaign event (`#`): the public stream tells all of them."""


def register_subscribers(broker: RabbitBroker, record: RecordEvents, *, prefetch: int) -> None:
    """`prefetch` messages of the status queue in hand at once (`SENDPOOL_EVENTS_STATUS_PREFETCH`)."""

    @broker.subscriber(
        STATUS_QUEUE,
        STATUS_EXCHANGE,
        title="events.status",
        description="Every status batch and campaign event, translated to the public envelope, logged "
        "(idempotent on `event_id`) and published on `sendpool.events` before it is acked. A body that "
        "does not validate is dead-lettered with its reason.",
        **batch_subscription(IncomingStatuses, prefetch),
    )
    async def on_status(body: IncomingStatuses, message: RabbitMessage) -> None:
        # A redelivery publishes every event again: the delivery before may have died after logging.
        with tracing.message_spans(
            "events.publish",
            () if isinstance(body, CampaignEvent) else status_events_of(body),
            attributes=tracing.status_attributes,
        ):
            await record(events_of(body), redelivered=bool(message.raw_message.redelivered))
