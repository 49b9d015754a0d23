"""Folding the pipeline's status events into each message's state, and counting feedback beside it."""

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain

from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.ports import SchedulerMetrics, Store
from services.scheduler.domain.status import is_feedback, is_recorded, latest_per_message
from shared.batching import Batcher
from shared.contracts import StatusEvent


class StatusFolding:
    """Writes status events set-based; each caller returns only once its events are durable.

    A caller hands in all the events of one message it consumed (a `StatusBatch`, or the single
    `StatusEvent` of an earlier version) at once. The events of the messages in hand at the same
    moment share one flush: reduced to one event per message, then written in statements of at
    most `max_items` events (`Repository.record_statuses`, which keeps the rows' lock order).
    `bounced` and `complained` are not states: they are counted beside them in the same flush
    (`Repository.record_feedback`, once per message and status)."""

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
        self._max_items = max_items
        # One item per caller: its events. A flush starts after `max_wait`, or once `max_items`
        # callers wait (each with at least one event, so never fewer events than that).
        self._batcher: Batcher[Sequence[StatusEvent], None] = Batcher(
            self._flush, max_items=max_items, max_wait=max_wait
        )

    async def record_many(self, events: Iterable[StatusEvent]) -> None:
        """Folds `events` into their messages' states and counts their feedback; returns once written."""
        kept = [event for event in events if is_recorded(event.status) or is_feedback(event.status)]
        if kept:
            await self._batcher.submit(kept)

    async def _flush(self, groups: list[Sequence[StatusEvent]]) -> list[None]:
        events = list(chain.from_iterable(groups))
        latest = latest_per_message(event for event in events if is_recorded(event.status))
        feedback = [event for event in events if is_feedback(event.status)]
        for start in range(0, len(feedback), self._max_items):
            async with self._store.transaction() as repo:
                await repo.record_feedback(feedback[start : start + self._max_items])
        # A message is in one statement only (`latest` has one event per message), so the
        # statements may commit one after the other. Each one's runs are checked for completion
        # as soon as it has committed: a message made final there is final for good, and a later
        # statement that fails (the callers' messages are then redelivered) would not report it again.
        for start in range(0, len(latest), self._max_items):
            async with self._store.transaction() as repo:
                runs_with_new_final = await repo.record_statuses(latest[start : start + self._max_items])
            await self._completion.check(runs_with_new_final)
        self._metrics.statuses_folded(Counter(event.status.value for event in events))
        return [None] * len(groups)
