"""The webhooks service's consumer: the public status stream, the events of tenants with endpoints."""

from faststream.rabbit import RabbitBroker

from services.webhooks.app.ingest import IngestEvents
from shared.events import EventBatch
from shared.messaging import batch_subscription
from shared.topology import work_queue

EVENTS_QUEUE = work_queue("webhooks.events", routing_key="<tenant>.#")
"""Durable: events published while no webhooks process runs wait here.

Bound to `sendpool.events` once per tenant with endpoints (`<tenant id>.#`, by
`RabbitStreamSubscriptions`), so the events of the other tenants never reach it. The subscriber
names no exchange, so that FastStream binds nothing itself; the routing key is what the AsyncAPI
document shows."""


def subscribe(broker: RabbitBroker, ingest: IngestEvents, *, prefetch: int) -> None:
    @broker.subscriber(
        EVENTS_QUEUE,
        **batch_subscription(EventBatch, prefetch),
        title="webhooks.events",
        description="The events of the public stream `sendpool.events` (`EventBatch`) of each tenant that has a "
        "webhook endpoint (a binding `<tenant id>.#` per such tenant, made when its first endpoint is "
        "registered): kept, and queued for each endpoint of its tenant that wants its type; acked once "
        "that is committed.",
    )
    async def on_events(batch: EventBatch) -> None:
        await ingest(batch)
