"""The record kept for each message so that a redelivered message is never sent twice.

A worker claims a message by recording `sending` before it talks to the server, and records
the outcome after. A copy of a message that finds a record already there is a duplicate: it
is settled from the record, without sending.

The record also remembers when an attempt may have been delivered although it was not known to
be (its connection was lost after the message was transmitted): the message is tried again, and
whatever a later attempt comes to, it is reported `unknown`, since the recipient may have it twice.
"""

from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent, Unknown
from services.delivery.domain.reply_text import safe_text


class AttemptState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SUPPRESSED = "suppressed"
    """Not sent: the recipient was suppressed when its turn came (see `app.suppression`)."""


FINAL_STATES = frozenset(
    {AttemptState.SENT, AttemptState.FAILED, AttemptState.UNKNOWN, AttemptState.SUPPRESSED}
)


@dataclass(frozen=True)
class AttemptRecord:
    message_id: UUID
    server_id: UUID
    attempt: int
    state: AttemptState
    reply_code: int | None = None
    enhanced_code: str | None = None
    reply_text: str | None = None
    vendor_message_id: str | None = None
    maybe_delivered: bool = False
    """This attempt or an earlier one of the message lost its connection after the message was
    transmitted: the recipient may have it already. Kept from attempt to attempt."""

    @classmethod
    def claim(
        cls, message_id: UUID, server_id: UUID, attempt: int, *, maybe_delivered: bool = False
    ) -> "AttemptRecord":
        return cls(message_id, server_id, attempt, AttemptState.SENDING, maybe_delivered=maybe_delivered)

    def concluded(self, outcome: SendOutcome) -> "AttemptRecord":
        """This attempt with its outcome, as it is recorded and reported."""
        # Once an attempt may have been delivered, every later record of the message says so.
        lost_after_data = isinstance(outcome, Deferred) and outcome.maybe_delivered
        attempt = replace(self, maybe_delivered=self.maybe_delivered or lost_after_data)
        match outcome:
            case Sent(vendor_message_id=vendor_id, reply_code=code, reply_text=text):
                return replace(
                    attempt,
                    state=AttemptState.SENT,
                    reply_code=code,
                    reply_text=text,
                    vendor_message_id=vendor_id,
                )
            case Deferred() | Failed():
                return replace(
                    attempt,
                    state=AttemptState.DEFERRED if isinstance(outcome, Deferred) else AttemptState.FAILED,
                    reply_code=outcome.reply_code,
                    enhanced_code=outcome.enhanced_code,
                    reply_text=outcome.reply_text,
                )
            case Unknown(reason=reason):
                return replace(attempt, state=AttemptState.UNKNOWN, reply_text=reason)

    def suppressed(self, reason: str) -> "AttemptRecord":
        """This attempt ended unsent: the recipient may not be mailed (`reason`, the bounces
        service's). Final, so a redelivered copy re-publishes it instead of sending."""
        return replace(
            self,
            state=AttemptState.SUPPRESSED,
            reply_code=None,
            enhanced_code=None,
            reply_text=safe_text(reason),
            vendor_message_id=None,
        )


@dataclass(frozen=True)
class Claimed:
    """The message is this worker's to send now; `record` is its `sending` claim (which carries
    `maybe_delivered` over from the message's earlier attempts)."""

    record: AttemptRecord


ClaimResult = Claimed | AttemptRecord
"""What claiming a message comes to: the claim, or the record that forbids it."""


class DuplicateAction(StrEnum):
    REPUBLISH = "republish"
    """The outcome is on record: publish its status again, for whoever missed it."""
    RESEND_IN_DOUBT = "resend_in_doubt"
    """The worker that claimed this message stopped before recording what became of it: nobody
    knows whether it went out. It is sent again, so that it is not lost, and reported `unknown`,
    because the recipient may now have it twice."""
    IGNORE = "ignore"
    """Another copy is being sent right now and will report, or this copy is older than the record."""


def on_duplicate(record: AttemptRecord, *, redelivered: bool, in_flight_here: bool) -> DuplicateAction:
    """What to do with a copy of a message that could not be claimed because `record` exists."""
    if record.state in FINAL_STATES:
        return DuplicateAction.REPUBLISH
    if record.state is AttemptState.SENDING:
        # Only a redelivery means the worker that claimed it is gone; a fresh copy is a duplicate
        # publish racing the copy that is being sent, and that copy will report the outcome.
        if redelivered and not in_flight_here:
            return DuplicateAction.RESEND_IN_DOUBT
        return DuplicateAction.IGNORE
    # Deferred at a later attempt than this copy's: the retry already superseded it.
    return DuplicateAction.IGNORE


FIRST_SENDER_STOPPED = "the worker that first sent this message stopped before recording what became of it"


def in_doubt(resent: Sent | Failed | Unknown) -> Unknown | Failed:
    """What to report for a message sent again after its first sender stopped without a record.

    `unknown` when the recipient may now have it twice: accepted again, or in doubt again.
    Refused for good now, the resend made no second copy: the receiver's final word is a refusal,
    so it is `failed`, its reason saying the first attempt may have arrived. (Refused for now, it
    is retried instead, remembered as maybe delivered: see `after_maybe_delivered`.)
    """
    return _after_an_earlier_copy(
        resent,
        FIRST_SENDER_STOPPED,
        refused_note=f"{FIRST_SENDER_STOPPED}; the first attempt may have arrived",
    )


MAYBE_DELIVERED_BEFORE = (
    "an earlier attempt of this message was cut off after it may have been transmitted (its connection "
    "was lost before the server's reply, or the worker sending it stopped), so it may have arrived then"
)


def after_maybe_delivered(outcome: Sent | Failed | Unknown) -> Unknown | Failed:
    """What to report when a later attempt of a message ends after an earlier one may have been delivered.

    `unknown` only when the recipient may now have it twice (accepted, or in doubt again); a
    refusal made no second copy, so it is `failed`, its reason saying the message may have
    arrived the first time. (A message that is only ever deferred until its retries run out is
    reported failed too, with the same note.)
    """
    return _after_an_earlier_copy(outcome, MAYBE_DELIVERED_BEFORE, refused_note=MAYBE_DELIVERED_BEFORE)


def _after_an_earlier_copy(
    outcome: Sent | Failed | Unknown, earlier: str, *, refused_note: str
) -> Unknown | Failed:
    """What to report for an attempt that ended after an earlier copy of its message may have arrived
    (`earlier` says how); a refusal keeps its own text, followed by `refused_note`."""
    match outcome:
        case Sent():
            return Unknown(f"{earlier}; it was sent again and accepted, so the recipient may have it twice")
        case Failed(reply_code=code, enhanced_code=enhanced, reply_text=text):
            return Failed(code, enhanced, f"{text} ({refused_note})")
        case Unknown(reason=reason):
            return Unknown(f"{earlier}; sending it again ended in doubt too: {reason}")
