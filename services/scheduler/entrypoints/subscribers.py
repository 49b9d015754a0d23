"""The scheduler's subscriber on sendpool.status: message statuses and campaign decisions."""

from faststream.rabbit import RabbitBroker

from services.scheduler.app.campaigns import Campaigns
from services.scheduler.app.statuses import StatusFolding
from shared import tracing
from shared.contracts import CampaignEvent, IncomingStatuses, status_events_of
from shared.messaging import batch_subscription
from shared.topology import STATUS_EXCHANGE, status_queue


def register_subscribers(
    broker: RabbitBroker, statuses: StatusFolding, campaigns: Campaigns, *, prefetch: int
) -> None:
    """`prefetch` messages of the status queue in hand at once (`SENDPOOL_SCHEDULER_STATUS_PREFETCH`)."""

    @broker.subscriber(
        status_queue("scheduler"),
        STATUS_EXCHANGE,
        title="scheduler.status",
        **batch_subscription(IncomingStatuses, prefetch),
    )
    async def on_status(body: IncomingStatuses) -> None:
        # A status batch is folded whole, in one write with the others in hand; it is acked once
        # written. Folding is idempotent (a state only moves forward), so a redelivered batch
        # changes nothing.
        if isinstance(body, CampaignEvent):
            await campaigns.apply_event(body)
            return
        events = status_events_of(body)
        with tracing.message_spans("scheduler.fold_status", events, attributes=tracing.status_attributes):
            await statuses.record_many(events)
