"""Events from the public stream, kept and queued for the endpoints that want them."""

from collections.abc import Callable

import structlog

from services.webhooks.app.ports import DeliveryQueue
from shared.events import EventBatch

log = structlog.get_logger("webhooks.ingest")


class IngestEvents:
    def __init__(self, queue: DeliveryQueue, on_queued: Callable[[], None]) -> None:
        self._queue = queue
        self._on_queued = on_queued

    async def __call__(self, batch: EventBatch) -> int:
        """Queue the batch's events (idempotent: a batch received twice queues nothing more)."""
        queued = await self._queue.ingest(batch.events)
        if queued:
            self._on_queued()
        return queued
