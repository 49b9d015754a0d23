"""What a piece of feedback about a sent message causes. Pure: no I/O.

Only matched feedback acts, and only on the message's own recipient: the address a report names
is whatever the mail or the event says (anyone can write a DSN), so a report naming another
address than the message's recipient is recorded as a mismatch and changes nothing.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from services.bounces.domain.feedback import Feedback
from services.bounces.domain.suppressions import suppression_key
from shared.contracts import FeedbackClass, MessageStatus, StatusEvent, status_event_id

REPLY_TEXT_MAX = 1000
"""Characters of a diagnostic carried in a status event's `reply_text`."""
REASON_TEXT_MAX = 500
"""Characters of a suppression's reason."""


class SuppressionSource(StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"
    IMPORT = "import"


SUPPRESSED_AT_ONCE = {
    FeedbackClass.HARD: SuppressionSource.BOUNCE,
    FeedbackClass.COMPLAINT: SuppressionSource.COMPLAINT,
    FeedbackClass.UNSUBSCRIBE: SuppressionSource.UNSUBSCRIBE,
}
"""Classes that suppress the recipient for its tenant at once, for good (a soft bounce waits for more)."""

STATUS_OF = {
    FeedbackClass.HARD: MessageStatus.BOUNCED,
    FeedbackClass.SOFT: MessageStatus.BOUNCED,
    FeedbackClass.COMPLAINT: MessageStatus.COMPLAINED,
}
"""Classes that other services hear of, as a status event of the message."""


@dataclass(frozen=True)
class SentMessage:
    """A message as its `sent` status event described it (`sent_messages`)."""

    message_id: UUID
    tenant_id: UUID
    campaign_id: UUID
    run_id: UUID
    server_id: UUID | None
    vendor: str | None
    recipient: str
    vendor_message_id: str | None
    sent_at: datetime


@dataclass(frozen=True)
class Report:
    """One stored recipient report (a row of `feedback`), as matching and acting need it."""

    id: int
    feedback_class: FeedbackClass
    claimed_message_id: UUID | None
    original_message_id: UUID | None
    claimed_server_id: UUID | None
    vendor_message_id: str | None
    reported_recipient: str
    status_code: str = ""
    diagnostic: str = ""
    feedback_type: str = ""
    occurred_at: datetime | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Match:
    report: Report
    message: SentMessage

    @property
    def recipient_key(self) -> str:
        """The message's recipient as the suppression lists key it."""
        return suppression_key(self.message.recipient)

    @property
    def recipient_agrees(self) -> bool:
        """A report that names no address speaks of the message's recipient; one that names
        another is not believed (see the module's docstring)."""
        reported = self.report.reported_recipient.strip()
        return not reported or suppression_key(reported) == self.recipient_key


@dataclass(frozen=True)
class Suppression:
    tenant_id: UUID | None
    address: str
    reason: str
    source: SuppressionSource
    expires_at: datetime | None = None
    feedback_id: int | None = None


def candidate_ids(report: Report) -> list[UUID]:
    """The message ids a report may be about, the most trusted first."""
    return [mid for mid in (report.claimed_message_id, report.original_message_id) if mid is not None]


def match(
    report: Report,
    by_id: dict[UUID, SentMessage],
    by_vendor_id: dict[tuple[UUID, str], SentMessage],
) -> SentMessage | None:
    """The sent message a report is about: by the message id the intake knows (a verified VERP
    token, a vendor event's own field), then by the one found inside the feedback, then by the
    vendor's message id on the server the webhook belongs to. None: unmatched."""
    for message_id in candidate_ids(report):
        found = by_id.get(message_id)
        # A webhook is signed with keys its server's owner controls: a message id it names counts only
        # for a message that went out through that server, never through another tenant's.
        if found is not None and report.claimed_server_id in (None, found.server_id):
            return found
    if report.claimed_server_id is not None and report.vendor_message_id:
        return by_vendor_id.get((report.claimed_server_id, report.vendor_message_id))
    return None


def one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def reason_of(feedback_class: FeedbackClass, status_code: str, diagnostic: str, feedback_type: str) -> str:
    """Why an address is suppressed, as a person reads it in the list."""
    what = {
        FeedbackClass.HARD: "hard bounce",
        FeedbackClass.SOFT: "repeated soft bounces",
        FeedbackClass.COMPLAINT: "spam complaint",
        FeedbackClass.UNSUBSCRIBE: "unsubscribed",
    }.get(feedback_class, feedback_class.value)
    parts = [what, status_code, f"({feedback_type})" if feedback_type else "", diagnostic]
    return one_line(" ".join(part for part in parts if part), REASON_TEXT_MAX)


def immediate_suppression(found: Match) -> Suppression | None:
    """Hard bounces, complaints and unsubscribes suppress the message's recipient for its tenant, for good."""
    source = SUPPRESSED_AT_ONCE.get(found.report.feedback_class)
    if source is None or not found.recipient_agrees:
        return None
    report = found.report
    return Suppression(
        tenant_id=found.message.tenant_id,
        address=found.recipient_key,
        reason=reason_of(report.feedback_class, report.status_code, report.diagnostic, report.feedback_type),
        source=source,
        feedback_id=report.id,
    )


def soft_suppression(found: Match, *, now: datetime, days: float) -> Suppression:
    """The suppression a soft bounce makes once its address has bounced often enough."""
    report = found.report
    return Suppression(
        tenant_id=found.message.tenant_id,
        address=found.recipient_key,
        reason=reason_of(FeedbackClass.SOFT, report.status_code, report.diagnostic, ""),
        source=SuppressionSource.BOUNCE,
        expires_at=now + timedelta(days=days),
        feedback_id=report.id,
    )


def status_event(found: Match, *, now: datetime) -> StatusEvent | None:
    """The `bounced` or `complained` event of the message, for matched hard, soft and complaint
    feedback about its own recipient. The id depends on the message, the status and the server
    only, so every copy of the same feedback (or of another saying the same) is one event."""
    status = STATUS_OF.get(found.report.feedback_class)
    if status is None or not found.recipient_agrees:
        return None
    message, report = found.message, found.report
    return StatusEvent(
        event_id=status_event_id(message.message_id, status, 1, message.server_id),
        status=status,
        message_id=message.message_id,
        tenant_id=message.tenant_id,
        campaign_id=message.campaign_id,
        run_id=message.run_id,
        recipient=message.recipient,
        server_id=message.server_id,
        vendor=message.vendor,
        vendor_message_id=message.vendor_message_id,
        feedback_class=report.feedback_class,
        enhanced_code=report.status_code or None,
        reply_text=one_line(report.diagnostic, REPLY_TEXT_MAX) or None,
        occurred_at=report.occurred_at or now,
    )


def strongest(suppressions: list[Suppression]) -> list[Suppression]:
    """One suppression per (tenant, address): for good beats for a while, a later expiry an earlier one."""
    kept: dict[tuple[UUID | None, str], Suppression] = {}
    for suppression in suppressions:
        key = (suppression.tenant_id, suppression.address)
        held = kept.get(key)
        if held is None or _outlasts(suppression, held):
            kept[key] = suppression
    return list(kept.values())


def _outlasts(new: Suppression, held: Suppression) -> bool:
    if held.expires_at is None:
        return False
    return new.expires_at is None or new.expires_at > held.expires_at


def dedupe_key(feedback: Feedback) -> str:
    """What makes two pieces of feedback the same: a vendor's event id (`details["event_id"]`, set by
    each webhook intake), else the bytes as received, with the source and the envelope recipient
    (`details["envelope_recipient"]`) the mail was sent to."""
    event_id = feedback.details.get("event_id")
    if event_id:
        return f"{feedback.source}:event:{event_id}"[:300]
    digest = hashlib.sha256()
    for part in (feedback.source.encode(), feedback.details.get("envelope_recipient", "").encode()):
        digest.update(part + b"\x00")
    digest.update(feedback.raw)
    return f"{feedback.source}:sha256:{digest.hexdigest()}"[:300]
