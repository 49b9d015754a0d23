"""Publishes the events recorded in the outbox, in order, once each commit is durable.

Events are written in the same transaction as the change they describe, so a change is never
published without being stored nor stored without being published (at least once: a crash
between a publish and its bookkeeping republishes, and consumers compare versions).

Published events are kept for a retention period (to look into what was published), then pruned
in batches by a task of their own, so pruning never delays publishing.

An event that can never be published (its stored payload does not read as an event, or it is
larger than the broker takes) is parked, with its reason, and the events after it go on: one
tenant's bad event must not stop the catalog's news for every tenant. What stays ordered is every
event that is published; a consumer misses only the parked one, and sees its subject again with
the subject's next change or its next snapshot. Parked events stay in the outbox table (the
`parked_at` and `parked_reason` columns) for an operator to look into; they are never pruned.
A failure that may pass (the broker or the database away) parks nothing: the round fails, and
the next one tries the same events again.
"""

import asyncio
from datetime import timedelta

import structlog

from services.catalog.app.ports import (
    EventPublisher,
    OutboxMetrics,
    OutboxSource,
    PendingEvents,
    Unpublishable,
    UnreadableEvent,
)
from shared.background import BackgroundTasks

log = structlog.get_logger("catalog.outbox")


class OutboxRelay:
    def __init__(
        self,
        source: OutboxSource,
        publisher: EventPublisher,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
        retention: timedelta = timedelta(days=7),
        prune_every_seconds: float = 60.0,
        prune_batch_size: int = 1000,
        metrics: OutboxMetrics | None = None,
    ) -> None:
        self._source = source
        self._publisher = publisher
        self._metrics = metrics
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._retention = retention
        self._prune_every_seconds = prune_every_seconds
        self._prune_batch_size = prune_batch_size
        self._tasks = BackgroundTasks()

    async def publish_pending(self) -> int:
        """Publish every pending event this replica can claim, parking those that never can be;
        returns how many it took (published or parked)."""
        published = 0
        while True:
            async with self._source.pending(self._batch_size) as batch:
                for event in batch.events:
                    if isinstance(event, UnreadableEvent):
                        self._park(batch, event.event_id, event.kind, f"unreadable: {event.problem}")
                        continue
                    try:
                        await self._publisher.publish(event)
                    except Unpublishable as exc:
                        self._park(batch, event.event_id, event.kind.value, str(exc))
            published += len(batch.events)
            if len(batch.events) < self._batch_size:
                return published

    def _park(self, batch: PendingEvents, event_id: int, kind: str, reason: str) -> None:
        batch.park(event_id, reason)
        log.error(
            "catalog event parked: it cannot be published, the events after it go on",
            event_id=event_id,
            kind=kind,
            reason=reason,
            look_into=f"SELECT * FROM catalog.outbox WHERE id = {event_id}",
        )
        if self._metrics is not None:
            self._metrics.event_parked(kind)

    async def prune_published(self) -> int:
        """Delete the events published longer than the retention ago, a batch per transaction so that
        no lock is held for long; returns how many."""
        pruned = 0
        while True:
            deleted = await self._source.prune(self._retention, self._prune_batch_size)
            pruned += deleted
            if deleted < self._prune_batch_size:
                return pruned

    async def run(self) -> None:
        while True:
            try:
                await self.publish_pending()
                await self._source.wait_for_new(self._poll_seconds)
            except Exception as exc:  # the broker or the database is away; the next round tries again
                log.warning("outbox relay round failed", error=repr(exc))
                await asyncio.sleep(self._poll_seconds)

    async def prune_periodically(self) -> None:
        while True:
            try:
                pruned = await self.prune_published()
                if pruned:
                    log.info("pruned published outbox events", pruned=pruned)
            except Exception as exc:  # the database is away; the next round tries again
                log.warning("outbox pruning failed", error=repr(exc))
            await asyncio.sleep(self._prune_every_seconds)

    def start(self) -> None:
        # Both loops handle their own errors; supervised all the same, so that one that ever ends
        # is logged, counted and started again rather than gone for good.
        self._tasks.run("catalog-outbox-relay", self.run)
        self._tasks.run("catalog-outbox-pruning", self.prune_periodically)

    async def stop(self) -> None:
        await self._tasks.stop()
