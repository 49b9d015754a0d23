"""Which status events count towards a server's delivery record. Pure: no I/O."""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from shared.contracts import FeedbackClass, MessageStatus, StatusEvent

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

OutcomeKey = tuple[UUID, datetime, str]
"""What a counter counts: a server's messages of one hour (its start, UTC) that ended in one
status (`outcome_status`). Bounce and complaint rates are summed over these hourly buckets."""


def outcome_status(status: MessageStatus, feedback_class: FeedbackClass | None = None) -> str:
    """The counter an event adds to: its status, and for `bounced` its class as well (`bounced:hard`,
    `bounced:soft`), because only hard bounces count towards a server's bounce rate. A `bounced`
    event without a class (none is published so any more) stays `bounced`."""
    if status is MessageStatus.BOUNCED and feedback_class is not None:
        return f"{status.value}:{feedback_class.value}"
    return status.value


def hour_of(moment: datetime) -> datetime:
    """The start of the hour (UTC) `moment` falls in: the bucket it is counted in. A naive time is UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def tally(events: Iterable[StatusEvent]) -> Counter[OutcomeKey]:
    """Count events per (server, hour, status); events without a server or not counted are skipped."""
    counts: Counter[OutcomeKey] = Counter()
    for event in events:
        if event.server_id is not None and event.status in COUNTED:
            status = outcome_status(event.status, event.feedback_class)
            counts[(event.server_id, hour_of(event.occurred_at), status)] += 1
    return counts
