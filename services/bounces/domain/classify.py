"""Classifying a mail that arrived at the bounce endpoint. Pure: no I/O.

A pipeline of readers, each able to decide, tried from the most structured to the least:

1. `arf.read_feedback_report`: an RFC 5965 feedback report → complaint, unsubscribe, or (for
   auth-failure) not-bounce; then Microsoft JMRP complaints and mail-client unsubscribe requests.
2. `dsn.read_delivery_status`: RFC 3464 fields, per recipient → hard (5.x.x, or failed with no
   code) or soft (4.x.x, delayed); a DSN that only reports deliveries is not-bounce.
3. `nonstandard.read_ses_notification`: an Amazon SES event mailed as JSON by SNS.
4. Auto-replies (`autoreply`), unless the mail bears strong bounce marks (a mailer-daemon sender
   with a failure subject or text, `X-Failed-Recipients`): auto-replies are never bounces. A mail
   marked as an auto-reply that has those marks but no machine-readable failure (no
   `X-Failed-Recipients`, no SMTP code) is unknown: prose alone suppresses nobody.
5. `nonstandard.read_text_bounce`: a prose bounce → hard or soft from its SMTP code or phrases.
6. A mail from a mailer-daemon that says nothing readable is unknown; one whose words are an
   out-of-office answer (with no header saying so) is an auto-reply; anything else is not-bounce.

Every decision names its rule (`arf.abuse`, `dsn.status-5xx`, `autoreply.rfc3834`,
`text.user-unknown`, ...), stored with the feedback so a person can see why.
"""

import re
from dataclasses import replace
from uuid import UUID

from services.bounces.domain.feedback import Classification
from services.bounces.domain.parsing import arf, autoreply, dsn, nonstandard
from services.bounces.domain.parsing.mime import Mail, read_mail
from shared.contracts import FeedbackClass

SENDPOOL_ID_HEADER = "X-Sendpool-Message-Id"
_SENDPOOL_ID = re.compile(
    r"^[ \t>]*X-Sendpool-Message-Id[ \t]*:[ \t]*<?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})>?[ \t]*\r?$",
    re.IGNORECASE | re.MULTILINE,
)


def classify_message(raw: bytes) -> Classification:
    """Classify one whole mail (bytes as received). Never raises: anything unparseable is `unknown`."""
    try:
        mail = read_mail(raw)
        return replace(_classify(mail), original_message_id=original_message_id(mail))
    except Exception:  # hostile input must never take the intake down: it is kept as unknown
        return Classification(FeedbackClass.UNKNOWN, "parse-error")


def _classify(mail: Mail) -> Classification:
    for read_feedback in (
        arf.read_feedback_report,
        arf.read_forwarded_complaint,
        arf.read_unsubscribe_request,
    ):
        feedback = read_feedback(mail)
        if feedback is not None:
            return Classification(
                feedback.feedback_class, feedback.rule, feedback.recipients, feedback.feedback_type
            )
    verdict = dsn.read_delivery_status(mail) or nonstandard.read_ses_notification(mail)
    if verdict is not None:
        return Classification(verdict.feedback_class, verdict.rule, verdict.recipients)
    signs = nonstandard.bounce_signs(mail)
    auto_reply = autoreply.auto_reply_rule(mail)
    if auto_reply is not None and not signs.strong:
        return Classification(FeedbackClass.AUTO_REPLY, auto_reply)
    if auto_reply is not None and not signs.machine_readable:
        # It says it is an automatic answer and its failure is only prose: nothing to act on.
        return Classification(FeedbackClass.UNKNOWN, f"{auto_reply}.unconfirmed-failure")
    bounce = nonstandard.read_text_bounce(mail, signs)
    if bounce is not None:
        return Classification(bounce.feedback_class, bounce.rule, bounce.recipients)
    if auto_reply is not None:
        return Classification(FeedbackClass.AUTO_REPLY, auto_reply)
    if signs.daemon_sender:
        return Classification(FeedbackClass.UNKNOWN, "daemon-without-verdict")
    out_of_office = autoreply.auto_reply_text_rule(mail)
    if out_of_office is not None:
        return Classification(FeedbackClass.AUTO_REPLY, out_of_office)
    return Classification(FeedbackClass.NOT_BOUNCE, "no-feedback")


def original_message_id(mail: Mail) -> UUID | None:
    """The sendpool message id in the returned message's headers (or anywhere the bounce quotes
    them inline). Untrusted like the rest of the mail: the app layer decides what it may match."""
    candidates = [original.get(SENDPOOL_ID_HEADER) for original in mail.originals]
    candidates += [match.group(1) for match in _SENDPOOL_ID.finditer(mail.raw_text)]
    candidates += [
        match.group(1)
        for section in mail.sections
        if section.in_original or section.content_type == "text/plain"
        for match in _SENDPOOL_ID.finditer(section.text)
    ]
    for candidate in candidates:
        try:
            return UUID(candidate.strip().strip("<>"))
        except ValueError:
            continue
    return None
