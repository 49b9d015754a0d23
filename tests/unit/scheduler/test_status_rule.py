"""The rule that folds status events into a message's state: it only moves forward."""

from uuid import uuid4

import pytest

from services.scheduler.domain.status import (
    FINAL,
    OPEN,
    QUEUED,
    Progress,
    advances,
    is_feedback,
    is_recorded,
    latest_per_message,
)
from shared.contracts import MessageStatus, StatusEvent

ROUTED, HELD, DEFERRED = MessageStatus.ROUTED, MessageStatus.HELD, MessageStatus.DEFERRED
SENT, FAILED, UNKNOWN = MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.UNKNOWN
WAITING = MessageStatus.WAITING


@pytest.mark.parametrize(
    ("current", "event", "expected"),
    [
        (None, Progress(ROUTED), True),
        (None, Progress(SENT, attempt=3), True),
        (Progress(QUEUED), Progress(ROUTED), True),
        (Progress(QUEUED), Progress(HELD), True),
        (Progress(ROUTED), Progress(DEFERRED), True),
        (Progress(ROUTED), Progress(SENT), True),
        (Progress(DEFERRED), Progress(FAILED), True),
        (Progress(DEFERRED), Progress(ROUTED, attempt=2), True),  # the retry of a deferred message
        (Progress(HELD), Progress(ROUTED, attempt=2), True),
        # waiting for capacity: news every time, until the attempt gets further
        (Progress(QUEUED), Progress(WAITING), True),
        (Progress(WAITING), Progress(WAITING), True),
        (Progress(WAITING), Progress(ROUTED), True),
        (Progress(ROUTED), Progress(WAITING), False),
        (Progress(DEFERRED), Progress(WAITING), False),
        (Progress(DEFERRED), Progress(WAITING, attempt=2), True),
        (Progress(SENT), Progress(WAITING, attempt=2), False),
        # backwards or sideways within an attempt
        (Progress(ROUTED), Progress(QUEUED), False),
        (Progress(ROUTED), Progress(ROUTED), False),
        (Progress(ROUTED), Progress(HELD), False),
        (Progress(HELD), Progress(ROUTED), False),
        (Progress(DEFERRED), Progress(ROUTED), False),
        # an older attempt never wins, unless it is final: the delivery record holds one outcome
        # per message, and a redelivered copy of attempt 1 may be sent after attempt 2 was routed
        (Progress(ROUTED, attempt=2), Progress(DEFERRED, attempt=1), False),
        (Progress(ROUTED, attempt=2), Progress(SENT, attempt=1), True),
        (Progress(DEFERRED, attempt=2), Progress(FAILED, attempt=1), True),
        # a final state is final
        (Progress(SENT), Progress(ROUTED), False),
        (Progress(SENT), Progress(SENT), False),
        (Progress(SENT), Progress(FAILED), False),
        (Progress(FAILED), Progress(SENT), False),
        (Progress(UNKNOWN), Progress(SENT), False),
        (Progress(SENT), Progress(ROUTED, attempt=2), False),
        (Progress(FAILED, attempt=1), Progress(SENT, attempt=2), False),
    ],
)
def test_a_state_only_moves_forward(current, event, expected):
    assert advances(current, event) is expected


def test_final_and_open_statuses_split_what_is_recorded():
    assert {"sent", "failed", "unknown", "suppressed", "cancelled"} == FINAL
    assert {"queued", "waiting", "routed", "held", "deferred"} == OPEN


@pytest.mark.parametrize("status", [MessageStatus.BOUNCED, MessageStatus.COMPLAINED])
def test_feedback_after_sending_is_counted_beside_the_state_never_recorded_as_it(status):
    assert not is_recorded(status)
    assert is_feedback(status)


def test_suppressed_is_a_final_state_that_nothing_moves_on_from():
    assert is_recorded(MessageStatus.SUPPRESSED) and not is_feedback(MessageStatus.SUPPRESSED)
    suppressed = Progress(MessageStatus.SUPPRESSED)
    assert advances(Progress(QUEUED), suppressed)
    assert advances(Progress(DEFERRED, attempt=2), suppressed)  # found suppressed before a retry
    assert not advances(suppressed, Progress(SENT))
    assert not advances(suppressed, Progress(ROUTED, attempt=2))
    assert not advances(Progress(SENT), suppressed)  # suppressed after it was sent: it stays sent


def _event(message_id, status, attempt=1):
    return StatusEvent(
        status=status,
        message_id=message_id,
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient="ann@example.com",
        attempt=attempt,
    )


def test_a_batch_keeps_one_event_per_message_chosen_by_the_rule():
    late, retried, twice = uuid4(), uuid4(), uuid4()
    events = [
        _event(late, SENT),
        _event(retried, DEFERRED),
        _event(twice, FAILED),
        _event(late, ROUTED),
        _event(retried, ROUTED, attempt=2),
        _event(retried, DEFERRED),  # a redelivery of the first attempt's event
        _event(twice, SENT),  # the first final state stays
    ]

    kept = {event.message_id: (event.status, event.attempt) for event in latest_per_message(events)}

    assert kept == {late: (SENT, 1), retried: (ROUTED, 2), twice: (FAILED, 1)}
    assert len(latest_per_message(events)) == 3
