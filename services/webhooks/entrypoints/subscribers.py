"""The webhooks service's consumer: the public status stream, every event of it."""

from faststream.rabbit import RabbitBroker

from services.webhooks.app.ingest import IngestEvents
from shared.events import EventBatch
from shared.messaging import batch_subscription
from shared.topology import EVENTS_EXCHANGE, work_queue

EVENTS_QUEUE = work_queue("webhooks.events", routing_key="#")
"""Durable: events published while no webhooks process runs wait here."""


def subscribe(broker: RabbitBroker, ingest: IngestEvents, *, prefetch: int) -> None:
    @broker.subscriber(
        EVENTS_QUEUE,
        EVENTS_EXCHANGE,
        **batch_subscription(EventBatch, prefetch),
        title="webhooks.events",
        description="Every event of the public stream (`EventBatch`): kept, and queued for each endpoint "
        "of its tenant that wants its type; acked once that is committed.",
    )
    async def on_events(batch: EventBatch) -> None:
        await ingest(batch)
