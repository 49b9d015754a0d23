"""Feedback from or about the recipient: RFC 5965 feedback reports (ARF), the complaint format of
Microsoft's JMRP (the complained-about message attached with `X-HmXmrOriginalRecipient`), and
unsubscribe requests that mail clients send for the user (Apple Mail's `X-Apple-Unsubscribe`).

Feedback-Type → class:
- abuse, fraud, virus, other → complaint: the recipient (or their provider for them) reported it.
- opt-out → unsubscribe.
- auth-failure → not-bounce. The report says a message claiming our domain failed SPF, DKIM or
  DMARC at the receiver (RFC 6591); nobody complained and nothing is wrong with the address, so
  suppressing the recipient would punish the wrong party. It is kept (feedback_type
  `auth-failure`) for the operator, who should look at the sending identity, and counts nowhere.
- not-spam → not-bounce (the user took a message out of the spam folder).
- anything else → unknown (kept, not acted on: an unregistered type is no reason to suppress).
"""

import re
from dataclasses import dataclass

from services.bounces.domain.feedback import RecipientReport
from services.bounces.domain.parsing.fields import (
    FieldBlock,
    address_in,
    addresses_in,
    field_blocks,
    first,
    without_type,
)
from services.bounces.domain.parsing.mime import Mail
from shared.contracts import FeedbackClass

FEEDBACK_TYPES: dict[str, FeedbackClass] = {
    "abuse": FeedbackClass.COMPLAINT,
    "fraud": FeedbackClass.COMPLAINT,
    "virus": FeedbackClass.COMPLAINT,
    "other": FeedbackClass.COMPLAINT,
    "opt-out": FeedbackClass.UNSUBSCRIBE,
    "auth-failure": FeedbackClass.NOT_BOUNCE,
    "not-spam": FeedbackClass.NOT_BOUNCE,
}
REPEATABLE_FIELDS = ("original-rcpt-to", "removal-recipient", "authentication-results", "reported-uri")
MAX_RECIPIENTS = 20
_REPORT_FIELDS = frozenset(
    {
        "user-agent",
        "version",
        "original-rcpt-to",
        "original-mail-from",
        "arrival-date",
        "source-ip",
        "reported-domain",
        "removal-recipient",
        "reporting-mta",
        "authentication-results",
    }
)
_IN_BODY_TYPE = re.compile(r"^feedback-type[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class FeedbackVerdict:
    feedback_class: FeedbackClass
    rule: str
    recipients: tuple[RecipientReport, ...]
    feedback_type: str = ""


def read_feedback_report(mail: Mail) -> FeedbackVerdict | None:
    """An RFC 5965 report's verdict; None when the mail has no `message/feedback-report` part (nor,
    in a mail that declares itself a feedback report, its fields in a text part)."""
    fields: FieldBlock = {}
    for text in mail.field_sections("message/feedback-report"):
        for block in field_blocks(text, repeatable=REPEATABLE_FIELDS):
            for name, values in block.items():
                fields.setdefault(name, []).extend(values)
    if "feedback-type" not in fields:
        fields = _report_written_as_text(mail)
    if "feedback-type" not in fields:
        return None
    feedback_type = _normalised_type(first(fields, "feedback-type"))
    feedback_class = FEEDBACK_TYPES.get(feedback_type, FeedbackClass.UNKNOWN)
    named = [
        address_in(without_type(value))
        for name in ("removal-recipient", "original-rcpt-to")
        for value in fields.get(name, ())
    ]
    addresses = [address for address in dict.fromkeys(named) if address] or _original_recipients(mail)
    recipients = tuple(RecipientReport(address) for address in addresses[:MAX_RECIPIENTS])
    rule = f"arf.{feedback_type}" if feedback_type in FEEDBACK_TYPES else "arf.unregistered-type"
    return FeedbackVerdict(feedback_class, rule, recipients, feedback_type[:64])


def read_forwarded_complaint(mail: Mail) -> FeedbackVerdict | None:
    """Microsoft JMRP: the complained-about message comes back attached, stamped with the address
    of the user who complained."""
    for headers in (*mail.originals, mail.headers):
        address = address_in(headers.get("x-hmxmroriginalrecipient"))
        if address:
            return FeedbackVerdict(FeedbackClass.COMPLAINT, "arf.jmrp", (RecipientReport(address),), "abuse")
    return None


def read_unsubscribe_request(mail: Mail) -> FeedbackVerdict | None:
    """A mail client's unsubscribe on the user's behalf (sent to the List-Unsubscribe mailto)."""
    if mail.headers.get("x-apple-unsubscribe").strip().lower() != "true":
        return None
    sender = address_in(mail.headers.get("from"))
    recipients = (RecipientReport(sender),) if sender else ()
    return FeedbackVerdict(FeedbackClass.UNSUBSCRIBE, "unsubscribe.mail-client", recipients, "opt-out")


def _report_written_as_text(mail: Mail) -> FieldBlock:
    """Some generators put the report fields into a text part: taken only as a block that has
    Feedback-Type with the other fields RFC 5965 requires beside it, not one quoted line."""
    for text in mail.readable_texts():
        if not _IN_BODY_TYPE.search(text):
            continue
        for block in field_blocks(text, repeatable=REPEATABLE_FIELDS):
            if "feedback-type" in block and len(_REPORT_FIELDS.intersection(block)) >= 2:
                return block
    return {}


def _normalised_type(value: str) -> str:
    token = value.strip().split(";")[0].split()[0].lower() if value.strip() else ""
    return {"optout": "opt-out", "opt_out": "opt-out", "authfailure": "auth-failure"}.get(token, token)


def _original_recipients(mail: Mail) -> list[str]:
    """Who got the reported message, when the report does not say (`To` of the attached original)."""
    for original in mail.originals:
        found = [address for value in original.get_all("to") for address in addresses_in(value)]
        if found:
            return found
    return []
