"""What a copy of an already claimed message does, for each record it may find."""

from uuid import uuid4

import pytest

from services.delivery.domain.attempts import (
    AttemptRecord,
    AttemptState,
    DuplicateAction,
    after_maybe_delivered,
    in_doubt,
    on_duplicate,
)
from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown


def record(state: AttemptState) -> AttemptRecord:
    return AttemptRecord(message_id=uuid4(), server_id=uuid4(), attempt=2, state=state)


@pytest.mark.parametrize("state", [AttemptState.SENT, AttemptState.FAILED, AttemptState.UNKNOWN])
@pytest.mark.parametrize("redelivered", [True, False])
def test_a_final_outcome_is_published_again(state, redelivered):
    assert (
        on_duplicate(record(state), redelivered=redelivered, in_flight_here=False)
        is DuplicateAction.REPUBLISH
    )


def test_a_redelivery_of_a_message_left_sending_is_sent_again_in_doubt():
    action = on_duplicate(record(AttemptState.SENDING), redelivered=True, in_flight_here=False)

    assert action is DuplicateAction.RESEND_IN_DOUBT


def test_a_fresh_copy_of_a_message_being_sent_is_left_to_the_copy_sending_it():
    action = on_duplicate(record(AttemptState.SENDING), redelivered=False, in_flight_here=False)

    assert action is DuplicateAction.IGNORE


def test_a_redelivery_while_this_process_is_still_sending_it_is_left_alone():
    # e.g. the channel was re-opened: the broker redelivers what this process is still working on.
    action = on_duplicate(record(AttemptState.SENDING), redelivered=True, in_flight_here=True)

    assert action is DuplicateAction.IGNORE


def test_a_copy_older_than_a_later_deferred_attempt_is_left_alone():
    action = on_duplicate(record(AttemptState.DEFERRED), redelivered=True, in_flight_here=False)

    assert action is DuplicateAction.IGNORE


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            Sent("Q1", 250, "2.0.0 Ok: queued as Q1"),
            (AttemptState.SENT, 250, None, "2.0.0 Ok: queued as Q1", "Q1"),
        ),
        (Deferred(451, "4.7.1", "Greylisted", 60), (AttemptState.DEFERRED, 451, "4.7.1", "Greylisted", None)),
        (Failed(550, "5.1.1", "No such user"), (AttemptState.FAILED, 550, "5.1.1", "No such user", None)),
        (Unknown("connection lost"), (AttemptState.UNKNOWN, None, None, "connection lost", None)),
    ],
)
def test_a_claim_concluded_by_an_outcome_records_its_codes(outcome, expected):
    claim = AttemptRecord.claim(uuid4(), uuid4(), 3)

    concluded = claim.concluded(outcome)

    assert (concluded.message_id, concluded.server_id, concluded.attempt) == (
        claim.message_id,
        claim.server_id,
        3,
    )
    assert (
        concluded.state,
        concluded.reply_code,
        concluded.enhanced_code,
        concluded.reply_text,
        concluded.vendor_message_id,
    ) == expected


def test_an_attempt_lost_after_data_marks_the_record_maybe_delivered_for_every_later_attempt():
    claimed = AttemptRecord.claim(uuid4(), uuid4(), 1)

    lost = claimed.concluded(Deferred(None, None, "connection lost after DATA", maybe_delivered=True))
    retried = AttemptRecord.claim(lost.message_id, lost.server_id, 2, maybe_delivered=lost.maybe_delivered)
    greylisted = retried.concluded(Deferred(451, "4.7.1", "4.7.1 later"))

    assert (lost.state, lost.maybe_delivered) == (AttemptState.DEFERRED, True)
    assert greylisted.maybe_delivered, "an earlier attempt may still have arrived"
    assert not claimed.concluded(Deferred(451, "4.7.1", "4.7.1 later")).maybe_delivered


EARLIER_COPY_REPORTS = [
    pytest.param(
        in_doubt,
        "the worker that first sent this message stopped before recording",
        "the first attempt may have arrived",
        id="sent again after its sender stopped",
    ),
    pytest.param(
        after_maybe_delivered,
        "an earlier attempt of this message was cut off after",
        "may have arrived then",
        id="a later attempt after one lost after data",
    ),
]


@pytest.mark.parametrize(("report", "earlier", "refused_note"), EARLIER_COPY_REPORTS)
@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        (Sent("Q2", 250, "2.0.0 Ok"), "accepted, so the recipient may have it twice"),
        (Unknown("no answer"), "ended in doubt too: no answer"),
    ],
)
def test_an_attempt_that_may_make_a_second_copy_is_unknown_after_one_that_may_have_arrived(
    report, earlier, refused_note, outcome, says
):
    reported = report(outcome)

    assert isinstance(reported, Unknown)
    assert reported.reason.startswith(earlier)
    assert says in reported.reason


@pytest.mark.parametrize(("report", "earlier", "refused_note"), EARLIER_COPY_REPORTS)
def test_an_attempt_refused_for_good_is_failed_saying_an_earlier_copy_may_have_arrived(
    report, earlier, refused_note
):
    """The refusal made no second copy, so it is not `unknown`: the receiver's word is final."""
    reported = report(Failed(550, "5.1.1", "5.1.1 No such user"))

    assert isinstance(reported, Failed)
    assert (reported.reply_code, reported.enhanced_code) == (550, "5.1.1")
    assert reported.reply_text.startswith("5.1.1 No such user")
    assert refused_note in reported.reply_text
