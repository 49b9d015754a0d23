"""Which status events count towards a server's delivery record. Pure: no I/O."""

from collections import Counter
from collections.abc import Iterable
from datetime import date
from uuid import UUID

from shared.contracts import MessageStatus, StatusEvent

COUNTED = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.DEFERRED,
        MessageStatus.FAILED,
        MessageStatus.UNKNOWN,
        MessageStatus.BOUNCED,
        MessageStatus.COMPLAINED,
    }
)

OutcomeKey = tuple[UUID, date, str]
"""What a counter counts: a server's messages of one day that ended in one status (its value)."""


def tally(events: Iterable[StatusEvent]) -> Counter[OutcomeKey]:
    """Count events per (server, day, status); events without a server or not counted are skipped."""
    counts: Counter[OutcomeKey] = Counter()
    for event in events:
        if event.server_id is not None and event.status in COUNTED:
            counts[(event.server_id, event.occurred_at.date(), event.status.value)] += 1
    return counts
