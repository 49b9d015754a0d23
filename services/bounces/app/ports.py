"""The interfaces the bounces use cases depend on; `services/bounces/adapters` implements them."""

from collections import Counter
from typing import Protocol

from services.bounces.domain.outcomes import OutcomeKey


class CounterStore(Protocol):
    """Each server's daily outcome counters (`PgCounterStore`)."""

    async def add(self, counts: Counter[OutcomeKey]) -> None:
        """Add `counts` to the stored counters, creating the ones not there yet."""
        ...
