"""Folding the pipeline's status events into each message's state."""

from collections import Counter

from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.ports import SchedulerMetrics, Store
from services.scheduler.domain.status import is_recorded, latest_per_message
from shared.batching import Batcher
from shared.contracts import StatusEvent


class StatusFolding:
    """Writes status events in batches; each caller returns only once its event is durable."""

    def __init__(
        self,
        store: Store,
        completion: RunCompletion,
        metrics: SchedulerMetrics,
        *,
        max_items: int,
        max_wait: float,
    ) -> None:
        self._store = store
        self._completion = completion
        self._metrics = metrics
        self._batcher: Batcher[StatusEvent, None] = Batcher(
            self._flush, max_items=max_items, max_wait=max_wait
        )

    async def record(self, event: StatusEvent) -> None:
        if is_recorded(event.status):
            await self._batcher.submit(event)

    async def _flush(self, events: list[StatusEvent]) -> list[None]:
        async with self._store.transaction() as repo:
            runs_with_new_final = await repo.record_statuses(latest_per_message(events))
        self._metrics.statuses_folded(Counter(event.status.value for event in events))
        await self._completion.check(runs_with_new_final)
        return [None] * len(events)
