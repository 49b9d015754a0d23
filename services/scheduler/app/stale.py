"""Finding messages that stopped moving and publishing them again, so that no run waits for ever.

Every hop of the pipeline keeps a message somewhere durable, but a design can still have a gap
(a broker that dropped a dead-lettered message, a bug in a later service), and a campaign must
not stay `running` for good because of one. The scheduler knows every message that is not final
and when it last heard of it; one quiet for longer than its step should take is published again
with its own id, which every later step is idempotent on (see `domain.stale`).
"""

from collections import Counter

import structlog

from services.scheduler.app.ports import SchedulerMetrics, SendPublisher, Store
from shared.contracts import MAX_BATCH_RECIPIENTS, SendBatch, utcnow

log = structlog.get_logger("scheduler.stale")


class StaleMessageSweeper:
    def __init__(
        self,
        store: Store,
        publisher: SendPublisher,
        metrics: SchedulerMetrics,
        *,
        quiet_seconds: float,
        routed_quiet_seconds: float,
        batch_size: int = 500,
        send_batch_size: int = MAX_BATCH_RECIPIENTS,
    ) -> None:
        """`batch_size` stale messages are claimed at a time; they are published in `SendBatch`es
        (one per run and content) of at most `send_batch_size` recipients."""
        self._store = store
        self._publisher = publisher
        self._metrics = metrics
        self._quiet_seconds = quiet_seconds
        self._routed_quiet_seconds = routed_quiet_seconds
        self._batch_size = batch_size
        self._send_batch_size = send_batch_size

    async def sweep(self) -> int:
        """Publish every stale message again; returns how many.

        A batch is claimed (marked as published now) and published in one transaction: if the
        broker does not confirm, the claim rolls back and the next sweep finds the messages
        again; if the commit fails after the confirm, they are published once more, harmlessly.
        """
        resent = 0
        while True:
            async with self._store.transaction() as repo:
                stale = await repo.claim_stale_messages(
                    quiet_seconds=self._quiet_seconds,
                    routed_quiet_seconds=self._routed_quiet_seconds,
                    limit=self._batch_size,
                )
                now = utcnow()
                sends = [message.send_request(now) for message in stale]
                await self._publisher.publish_batches(SendBatch.of(sends, max_size=self._send_batch_size))
            if stale:
                self._metrics.stale_messages_resent(len(stale))
                log.warning(
                    "messages made no progress for too long; published them again",
                    count=len(stale),
                    by_status=dict(Counter(message.status for message in stale)),
                    campaigns=sorted({str(message.campaign_id) for message in stale})[:10],
                )
            resent += len(stale)
            if len(stale) < self._batch_size:
                return resent
