"""The event log keeps `SENDPOOL_EVENTS_RETENTION_DAYS`: older events are deleted in bounded batches."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from services.events.app.ports import EventLog

log = structlog.get_logger("events.retention")


class PruneEvents:
    """One round of the pruner: batch after batch, each its own short statement, until none is left."""

    def __init__(
        self,
        event_log: EventLog,
        retention: timedelta,
        *,
        batch_size: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._log = event_log
        self._retention = retention
        self._batch_size = batch_size
        self._now = now

    async def __call__(self) -> int:
        older_than = self._now() - self._retention
        total = 0
        while True:
            deleted = await self._log.prune(older_than, self._batch_size)
            total += deleted
            if deleted < self._batch_size:
                break
        if total:
            log.info("old events pruned", deleted=total, older_than=older_than.isoformat())
        return total
