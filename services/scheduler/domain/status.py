"""How status events fold into one message's state: a state only moves forward.

Events reach the scheduler out of order (a late `routed` after `sent`, a redelivered `deferred`),
so the newest event is not always the truest. A message's progress is ordered by its attempt,
then by how far the attempt has gone; a final state, of whichever attempt, ends it and never
changes again.

`suppressed` is one of those final states: the scheduler records it itself for a recipient it
skipped at expansion, and a delivery worker reports it for one it found suppressed just before
sending. `bounced` and `complained` are not states: they come after `sent` (the message stays
`sent`) and are counted beside the states, once per message and status (`FEEDBACK`).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from shared.contracts import FEEDBACK_STATUSES, FINAL_STATUSES, MessageStatus, StatusEvent

QUEUED = "queued"
"""The scheduler's own state for a message it has published and heard nothing about yet."""

STATUS_RANK: dict[str, int] = {
    QUEUED: 0,
    # Waiting for capacity is where a queued message stands, not a step past it: it may wait
    # again and again (see `Progress.is_overtaken_by`) until it is routed.
    MessageStatus.WAITING: 0,
    MessageStatus.ROUTED: 1,
    MessageStatus.HELD: 1,
    MessageStatus.DEFERRED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.UNKNOWN: 3,
    MessageStatus.SUPPRESSED: 3,
    MessageStatus.CANCELLED: 3,
}
"""Statuses the scheduler records as a message's state, ranked by how far an attempt has gone."""

FEEDBACK: frozenset[str] = frozenset(status.value for status in FEEDBACK_STATUSES)
"""What a recipient's system said after the message was sent: counted beside its state, never instead."""

FINAL: frozenset[str] = frozenset(status.value for status in FINAL_STATUSES)
OUTCOMES: frozenset[str] = frozenset(
    {MessageStatus.SENT.value, MessageStatus.FAILED.value, MessageStatus.UNKNOWN.value}
)
"""What a server did with a message. One that was mid-send when its campaign was cancelled reports
it after the `cancelled` the scheduler wrote, and the record must tell the truth: it overrides."""
OPEN: frozenset[str] = frozenset(STATUS_RANK) - FINAL
"""Recorded statuses a message can still move on from; a run is done when none of its messages has one."""

IN_FLIGHT: frozenset[str] = OPEN - {MessageStatus.HELD.value}
"""Open statuses in which a message should keep moving by itself. A held message waits for its
campaign to be resumed, which is a person's decision, so it is never stale."""


def is_recorded(status: str) -> bool:
    return status in STATUS_RANK


def is_feedback(status: str) -> bool:
    return status in FEEDBACK


def rank(status: str) -> int:
    return STATUS_RANK[status]


@dataclass(frozen=True)
class Progress:
    """Where one message stands: its attempt and the status that attempt reached."""

    status: str
    attempt: int = 1

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def is_overtaken_by(self, newer: "Progress") -> bool:
        if self.is_final:
            return self.status == MessageStatus.CANCELLED and newer.status in OUTCOMES
        if newer.is_final:
            # The delivery worker's record holds one outcome per message, whatever the attempt:
            # a redelivered copy of attempt 1 may be sent after attempt 2 was routed, and attempt
            # 2's copy then settles from that record. An older attempt's final word is the word.
            return True
        if newer.status == MessageStatus.WAITING:
            # Each new wait is news (it says when the message comes back), as long as the message
            # has not got further in the same attempt.
            return (newer.attempt, rank(newer.status)) >= (self.attempt, rank(self.status))
        return (newer.attempt, rank(newer.status)) > (self.attempt, rank(self.status))


def advances(current: Progress | None, event: Progress) -> bool:
    """Whether `event` should replace `current` (None: nothing recorded for the message yet)."""
    return current is None or current.is_overtaken_by(event)


def latest_per_message(events: Iterable[StatusEvent]) -> list[StatusEvent]:
    """The one event per message that the rule keeps, folding `events` in arrival order.

    A batch written in one statement may touch each message only once, so its events are
    reduced here with the same rule the database applies against the stored state.
    """
    kept: dict[UUID, StatusEvent] = {}
    for event in events:
        current = kept.get(event.message_id)
        if advances(None if current is None else progress_of(current), progress_of(event)):
            kept[event.message_id] = event
    return list(kept.values())


def progress_of(event: StatusEvent) -> Progress:
    return Progress(event.status.value, event.attempt)
