"""What the bounces service learns about a sent message, whatever it came through. Pure: no I/O.

Three intakes produce the same things: the bounce mail endpoint (a DSN, an ARF report or an
auto-reply sent to a VERP address, classified by `classify_message`), and the vendors' event
webhooks. Each becomes a `Feedback`: the raw source, the rule that classified it, its class,
and one `RecipientReport` per recipient it speaks of. `TakeFeedback` (the app layer) stores it,
matches it to the message it is about, and acts on it (suppression, status events, rates).
"""

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from shared.contracts import FeedbackClass


@dataclass(frozen=True)
class RecipientReport:
    """What the feedback says about one recipient (RFC 3464's per-recipient fields, or a vendor's)."""

    address: str
    """The failed (or complaining) recipient, lower-cased; "" when the feedback does not say."""
    status: str = ""
    """The enhanced status code (`5.1.1`), "" when there is none."""
    action: str = ""
    """RFC 3464 Action (`failed`, `delayed`, ...), "" when there is none."""
    diagnostic: str = ""
    """Diagnostic-Code or the vendor's reason, as the remote system wrote it (bounded, one line)."""
    remote_mta: str = ""


@dataclass(frozen=True)
class Classification:
    """The parser's verdict on one piece of feedback."""

    feedback_class: FeedbackClass
    rule: str
    """The rule that decided the class, named so a person can find it (`dsn.status-5`, `arf.abuse`, ...)."""
    recipients: tuple[RecipientReport, ...] = ()
    feedback_type: str = ""
    """ARF Feedback-Type (`abuse`, `fraud`, `opt-out`, `auth-failure`, ...), "" for other feedback."""
    original_message_id: UUID | None = None
    """The sendpool message id found inside the feedback (`X-Sendpool-Message-Id` of the returned
    headers), if any: a second way to match feedback to its message besides the VERP token."""


@dataclass(frozen=True)
class Feedback:
    """One piece of feedback as an intake hands it to `TakeFeedback`."""

    source: str
    """Where it came from: `smtp`, or the vendor's name for a webhook (`ses`, `sendgrid`, ...)."""
    raw: bytes
    """Exactly what arrived (a whole mail, or one vendor event as JSON), kept with the record."""
    classification: Classification
    message_id: UUID | None = None
    """The sendpool message it is about, when the intake knows it (a verified VERP token, a vendor
    event's `sendpool_message_id`). None: unmatched, kept but never acted on."""
    server_id: UUID | None = None
    """The server the intake knows it came through (a webhook names its server in its URL)."""
    vendor_message_id: str | None = None
    occurred_at: datetime | None = None
    details: dict[str, str] = field(default_factory=dict)
    """What else the intake wants kept (SMTP envelope, webhook event id), small and bounded."""
