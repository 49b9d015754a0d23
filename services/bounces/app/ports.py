"""The interfaces the bounces use cases depend on; `services/bounces/adapters` implements them."""

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from services.bounces.domain.feedback import Feedback
from services.bounces.domain.outcomes import OutcomeKey


class CounterStore(Protocol):
    """Each server's daily outcome counters (`PgCounterStore`)."""

    async def add(self, counts: Counter[OutcomeKey]) -> None:
        """Add `counts` to the stored counters, creating the ones not there yet."""
        ...


class FeedbackIntake(Protocol):
    """What every intake (the bounce mail endpoint, each vendor webhook) hands its feedback to."""

    async def take(self, feedback: Sequence[Feedback]) -> None:
        """Store `feedback`, match it to its messages and act on it; returns once all is durable.

        Idempotent: the same feedback taken twice (a retried webhook, a DSN sent twice) acts once."""
        ...
