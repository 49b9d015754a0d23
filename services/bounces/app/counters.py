"""Keep each server's hourly outcome counters, the basis for bounce and complaint rates."""

from collections.abc import Sequence
from itertools import chain

from services.bounces.app.ports import CounterStore
from services.bounces.domain.outcomes import tally
from shared.contracts import StatusEvent


class RecordOutcomes:
    """The flush of the outcomes' `Batcher`: each item is the events of one consumed message (a
    status batch), and all of them are counted in one write."""

    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def __call__(self, groups: list[Sequence[StatusEvent]]) -> list[None]:
        counts = tally(chain.from_iterable(groups))
        if counts:
            await self._store.add(counts)
        return [None] * len(groups)
