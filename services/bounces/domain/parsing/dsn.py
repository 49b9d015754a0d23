"""RFC 3464 delivery status notifications: one report per recipient from the `message/delivery-status`
part (or, for MTAs that write the same fields into a text part, from there).

Per recipient: Action says what happened (failed, delayed, delivered, relayed, expanded), Status
the enhanced code whose class digit says permanent (5) or transient (4). Only failed and delayed
recipients are reported; a DSN that says every recipient was delivered is no bounce.
"""

import re
from dataclasses import dataclass

from services.bounces.domain.feedback import RecipientReport
from services.bounces.domain.parsing.codes import enhanced_code, reply_code, severity_of_code
from services.bounces.domain.parsing.fields import (
    FieldBlock,
    address_in,
    field_blocks,
    first,
    one_line,
    without_type,
)
from services.bounces.domain.parsing.mime import Mail
from shared.contracts import FeedbackClass

MAX_RECIPIENTS = 100
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
_IN_BODY_FIELD = re.compile(r"^(?:final-recipient|original-recipient)[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class DsnVerdict:
    feedback_class: FeedbackClass
    rule: str
    recipients: tuple[RecipientReport, ...]


def read_delivery_status(mail: Mail) -> DsnVerdict | None:
    """The verdict of the mail's DSN fields, None when it has none (a prose bounce, or no bounce)."""
    blocks = _recipient_blocks(
        mail.field_sections("message/delivery-status", "message/global-delivery-status")
    )
    if not blocks:
        in_body = [text for text in mail.readable_texts() if _IN_BODY_FIELD.search(text)]
        blocks = _recipient_blocks(in_body)
    if not blocks:
        return None
    judged: list[tuple[FeedbackClass | None, str, RecipientReport]] = []
    seen: set[str] = set()
    for block in blocks:
        verdict = _judge(block)
        if verdict[2].address not in seen:  # the same recipient twice (a resent DSN part) counts once
            seen.add(verdict[2].address)
            judged.append(verdict)
        if len(judged) >= MAX_RECIPIENTS:
            break
    for wanted in (FeedbackClass.HARD, FeedbackClass.SOFT):
        rules = [rule for feedback_class, rule, _ in judged if feedback_class is wanted]
        if rules:
            failing = tuple(report for feedback_class, _, report in judged if feedback_class is not None)
            return DsnVerdict(wanted, rules[0], failing)
    if all(report.action in SUCCESS_ACTIONS for _, _, report in judged):
        return DsnVerdict(FeedbackClass.NOT_BOUNCE, "dsn.delivered", ())
    return None


def _recipient_blocks(texts: list[str]) -> list[FieldBlock]:
    return [
        block
        for text in texts
        for block in field_blocks(text)
        if any(name in block for name in RECIPIENT_FIELDS) or ("action" in block and "status" in block)
    ]


def recipient_report(block: FieldBlock) -> RecipientReport:
    diagnostic = one_line(without_type(first(block, "diagnostic-code")))
    status_field = first(block, "status")
    status = enhanced_code(status_field) or enhanced_code(diagnostic)
    if not status and re.match(r"\s*2\.\d{1,3}\.\d{1,3}", status_field):
        status = status_field.split()[0]
    named = [without_type(first(block, name)) for name in RECIPIENT_FIELDS if first(block, name)]
    # An address the pattern does not take (an encoded word, a bare domain) is still the one named.
    address = next(
        (found for found in map(address_in, named) if found),
        named[0].strip("<> \t").lower()[:320] if named else "",
    )
    return RecipientReport(
        address=address,
        status=status,
        action=first(block, "action").split(" ")[0].lower()[:32],
        diagnostic=diagnostic,
        remote_mta=one_line(without_type(first(block, "remote-mta")), 255),
    )


def _judge(block: FieldBlock) -> tuple[FeedbackClass | None, str, RecipientReport]:
    """One recipient's class (None: not a failure) and the rule that decided it."""
    report = recipient_report(block)
    if report.action in SUCCESS_ACTIONS:
        return None, "dsn.delivered", report
    if report.action == "delayed":
        return FeedbackClass.SOFT, "dsn.action-delayed", report
    severity = severity_of_code(report.status)
    if severity is not None:
        return severity, f"dsn.status-{report.status[0]}xx", report
    code = reply_code(report.diagnostic)
    severity = severity_of_code(code)
    if severity is not None:
        return severity, f"dsn.diagnostic-{code[0]}xx", report
    if report.action == "failed":
        return FeedbackClass.HARD, "dsn.action-failed", report
    if report.action == "expired":
        # Not an RFC 3464 action, written by some MTAs when a message timed out in their queue.
        return FeedbackClass.SOFT, "dsn.action-expired", report
    return None, "dsn.no-verdict", report
