"""Keep each server's daily outcome counters, the basis for bounce and complaint rates."""

from services.bounces.app.ports import CounterStore
from services.bounces.domain.outcomes import tally
from shared.contracts import StatusEvent


class RecordOutcomes:
    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def __call__(self, events: list[StatusEvent]) -> list[None]:
        counts = tally(events)
        if counts:
            await self._store.add(counts)
        return [None] * len(events)
