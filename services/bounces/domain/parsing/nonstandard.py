"""Bounces without DSN fields: the prose notices of qmail, Exim, Postfix without DSN, Sendmail V5,
Exchange and Office 365 NDRs, Domino/Notes, Courier, Gmail, Yahoo, and most mailbox providers,
plus Amazon SES bounce notifications that arrive as JSON mail through SNS.

Whether it is a bounce comes from several signs together (`BounceSigns`): the sender is a
mailer-daemon or postmaster, the subject and the text speak of a failed delivery or name its
cause, or the MTA names the failed recipients in `X-Failed-Recipients`. One sign alone is not
enough (an ordinary mail may say "returned"), except that header.

The recipients come from `X-Failed-Recipients` when present; else they are the addresses the
notice names as failed (at the start of a line, or after words like "recipient:"), plus the
returned message's `To` when it names one address (sendpool sends each message to one recipient).
Hard or soft comes from the first SMTP code in the notice, else from phrases (`codes`).
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from services.bounces.domain.feedback import RecipientReport
from services.bounces.domain.parsing.codes import (
    delay_rule,
    enhanced_code,
    phrase_verdict,
    reply_code,
    severity_of_code,
)
from services.bounces.domain.parsing.fields import addresses_in, one_line
from services.bounces.domain.parsing.mime import Mail, parse_headers
from shared.contracts import FeedbackClass

MAX_NOTICE_CHARS = 32 * 1024
MAX_RECIPIENTS = 20
MAX_JSON_CHARS = 256 * 1024
RECIPIENT_CAUSES = frozenset({"user-unknown", "mailbox-disabled", "host-unknown", "mailbox-full"})

DAEMON_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "mailerdaemon",
        "mail-daemon",
        "maildaemon",
        "postmaster",
        "post_master",
        "mailer",
        "mail-delivery-system",
        "bounce",
        "bounces",
        "nobody",
    }
)
_DAEMON_NAME = re.compile(
    r"mailer[- ]?daemon|mail delivery|delivery (?:subsystem|system)|postmaster|ndr administrator", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|has failed|notification|problem|report)"
    r"|returned mail|returned to sender|mail delivery failed|failure notice|non[- ]?deliver|not (?:be )?delivered"
    r"|could not (?:be )?(?:delivered|sent)|mail system error|delivery failure|message delivery has failed"
    r"|\bbounced?\b|error sending|warning: (?:message|could not)|delayed mail|could not send|nicht zustellbar"
    r"|unzustellbar|non recapitabile|non remis|no entregado|returned mail|mail error|rejected"
    r"|non distribuibile|não entregue|не доставлено|недоставлен|エラー|不達|配信失敗|退信|未送达",
    re.IGNORECASE,
)
_BOUNCE_TEXT = re.compile(
    r"could(?: not|n.t) be delivered|was not delivered|wasn.t able to deliver|unable to deliver"
    r"|delivery to the following recipients? (?:failed|has been delayed)|delivery has failed|delivery failed"
    r"|permanent error|permanent fatal error|undeliverable|following address(?:es)?(?:\(es\))? failed"
    r"|not yet been delivered|did not reach the following recipient|error (?:occurred )?(?:while )?(?:trying to )?deliver"
    r"|returned to (?:the )?sender|failed permanently|has been delayed|delivery problems|message not delivered"
    r"|user unknown|unknown user|no such user|mailbox (?:is )?full|recipient address rejected"
    r"|rejected by (?:a |the )?(?:remote|recipient)|could not deliver|not delivered to|failed to deliver"
    r"|delivery (?:is )?delayed|error delivering|message was rejected|an error has occurred while attempting to deliver"
    # The same in the languages the big providers answer in (German, French, Spanish, Italian,
    # Portuguese, Dutch, Russian, Japanese, Chinese).
    r"|konnte nicht zugestellt werden|nicht zugestellt|n.a pas pu .tre (?:remis|distribu)|no se ha podido entregar"
    r"|no (?:se )?pudo (?:ser )?entregar|non (?:è stato|e. stato) (?:possibile )?recapitat|não (?:foi|pôde ser) entregue"
    r"|kon niet worden (?:bezorgd|afgeleverd)|не (?:может быть|было|удалось) доставлен|не доставлено"
    r"|送信できませんでした|配信できませんでした|届けることができませんでした|宛先不明|配信に失敗|無法傳遞|无法投递|投递失败",
    re.IGNORECASE,
)
_ORIGINAL_STARTS = re.compile(
    r"^[ \t>]*(?:[-=_*]{2,}[ \t]*)?(?:"
    r"this is a copy of the message|below this line is a copy|(?:the )?original message(?: follows| headers| below)?"
    r"|message headers follow|(?:the )?headers? of the original message|returned message|included is a copy"
    r"|below is a copy of the original|unsent message below|copy of (?:the |your )?(?:original )?message"
    r"|original mail info|bounced e-?mail|message that (?:was|could not be) sent"
    r")"
    r"|^(?:Received|Return-Path|DKIM-Signature|ARC-Seal|Message-I[dD]|X-Received)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_SMTP_LINE = re.compile(r"(?<![\w.\-:/#=+,])[45][0-5]\d(?:[ \-]|$)|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}", re.M)
_SENDER_CONTEXT = re.compile(
    r"(?:mail from|envelope-from|from|sender|sent by|return-path|reply-to)\s*:?\s*<?[^\s<>@]{1,64}@[^\s<>]{1,255}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BounceSigns:
    daemon_sender: bool
    bounce_subject: bool
    bounce_text: bool
    failure_cause: bool
    """The text names why delivery failed (user unknown, mailbox full, ...)."""
    failure_code: bool
    """The text quotes a 4xx/5xx SMTP reply or enhanced status code."""
    failed_recipients: tuple[str, ...]

    @property
    def is_bounce(self) -> bool:
        """Two signs together (any two of sender, subject, text, cause), or `X-Failed-Recipients`."""
        signs = (self.daemon_sender, self.bounce_subject, self.bounce_text, self.failure_cause)
        return bool(self.failed_recipients) or ((self.bounce_text or self.daemon_sender) and sum(signs) >= 2)

    @property
    def machine_readable(self) -> bool:
        """Evidence a program wrote, not only prose: `X-Failed-Recipients` or an SMTP code."""
        return bool(self.failed_recipients) or self.failure_code

    @property
    def strong(self) -> bool:
        """Marks no auto-responder puts on a vacation reply: outweigh `Auto-Submitted: auto-replied`."""
        return bool(self.failed_recipients) or (
            self.daemon_sender and (self.bounce_subject or self.bounce_text)
        )


@dataclass(frozen=True)
class TextVerdict:
    feedback_class: FeedbackClass
    rule: str
    recipients: tuple[RecipientReport, ...]


def bounce_signs(mail: Mail) -> BounceSigns:
    notice = notice_text(mail)
    cause = phrase_verdict(notice)
    return BounceSigns(
        daemon_sender=_is_daemon(mail.headers.get("from"))
        or _is_daemon(mail.headers.get("sender"))
        or "x-ms-exchange-message-is-ndr" in mail.headers,  # Exchange marks its own NDRs
        bounce_subject=bool(_BOUNCE_SUBJECT.search(mail.headers.get("subject"))),
        bounce_text=bool(_BOUNCE_TEXT.search(notice)),
        failure_cause=cause is not None and cause[1] in RECIPIENT_CAUSES,
        failure_code=bool(_diagnostic_line(notice)),
        failed_recipients=tuple(
            address
            for value in mail.headers.get_all("x-failed-recipients")
            for address in addresses_in(value)
        )[:MAX_RECIPIENTS],
    )


def notice_text(mail: Mail) -> str:
    """What the reporting system wrote, cut where a returned message starts inline."""
    return _split_notice(mail)[0]


def _split_notice(mail: Mail) -> tuple[str, str]:
    """The notice, and the inline returned message after it ("" when there is none)."""
    text = "\n".join(mail.readable_texts())[: MAX_NOTICE_CHARS * 4]
    lines = text.splitlines()
    start = next((index for index, line in enumerate(lines[:20]) if line.strip()), 0)
    body = "\n".join(lines[start:])
    # A notice's first line is never the returned message, even when it looks like a header.
    match = _ORIGINAL_STARTS.search(body, len(lines[start]) if start < len(lines) else 0)
    if match is None:
        return body[:MAX_NOTICE_CHARS], ""
    rest = body[match.start() :]
    if not re.match(r"[A-Za-z-]+:", rest):  # a marker line: the headers start after it
        rest = rest.partition("\n")[2]
    return body[: match.start()][:MAX_NOTICE_CHARS], rest.lstrip("\n")[:MAX_NOTICE_CHARS]


def read_text_bounce(mail: Mail, signs: BounceSigns) -> TextVerdict | None:
    if not signs.is_bounce:
        return None
    notice = notice_text(mail)
    feedback_class, rule = _severity(notice, mail.headers.get("subject"))
    diagnostic = _diagnostic_line(notice)
    status = enhanced_code(diagnostic) or enhanced_code(notice)
    addresses = list(signs.failed_recipients) or _recipients_in_notice(mail, notice)
    recipients = tuple(
        RecipientReport(
            address,
            status=status,
            action="delayed" if rule == "text.delayed" else "failed",
            diagnostic=diagnostic,
        )
        for address in addresses[:MAX_RECIPIENTS]
    )
    return TextVerdict(feedback_class, rule, recipients)


def read_ses_notification(mail: Mail) -> TextVerdict | None:
    """An Amazon SES event delivered as e-mail by an SNS subscription: JSON in the body."""
    for text in mail.readable_texts():
        start, head = text.find("{"), text[:MAX_JSON_CHARS]
        if not 0 <= start <= 200 or ('"notificationType"' not in head and '"eventType"' not in head):
            continue
        document = _json_object(text[start:MAX_JSON_CHARS])
        if document is None:
            continue
        if isinstance(document.get("Message"), str):
            document = _json_object(document["Message"]) or document
        return _ses_verdict(document)
    return None


def _ses_verdict(document: dict[str, Any]) -> TextVerdict | None:
    kind = str(document.get("notificationType") or document.get("eventType") or "").lower()
    if kind == "bounce":
        bounce = _object(document.get("bounce"))
        reports = tuple(
            RecipientReport(
                address=str(item.get("emailAddress", "")).lower()[:320],
                status=enhanced_code(str(item.get("status", ""))),
                action=str(item.get("action", ""))[:32],
                diagnostic=one_line(str(item.get("diagnosticCode", ""))),
            )
            for item in _objects(bounce.get("bouncedRecipients"))
        )
        if str(bounce.get("bounceType", "")).lower() == "permanent":
            return TextVerdict(FeedbackClass.HARD, "ses-notification.permanent", reports)
        return TextVerdict(FeedbackClass.SOFT, "ses-notification.transient", reports)
    if kind == "complaint":
        complaint = _object(document.get("complaint"))
        reports = tuple(
            RecipientReport(address=str(item.get("emailAddress", "")).lower()[:320])
            for item in _objects(complaint.get("complainedRecipients"))
        )
        return TextVerdict(FeedbackClass.COMPLAINT, "ses-notification.complaint", reports)
    if kind == "delivery":
        return TextVerdict(FeedbackClass.NOT_BOUNCE, "ses-notification.delivery", ())
    return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> list[dict[str, Any]]:
    return (
        [item for item in value[:MAX_RECIPIENTS] if isinstance(item, dict)] if isinstance(value, list) else []
    )


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.JSONDecoder(strict=False).raw_decode(text.strip())[0]
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_daemon(value: str) -> bool:
    if _DAEMON_NAME.search(value):
        return True
    addresses = addresses_in(value, 2)
    return any(address.split("@")[0] in DAEMON_LOCAL_PARTS for address in addresses) or (
        value.strip().lower() in DAEMON_LOCAL_PARTS
    )


def _severity(notice: str, subject: str) -> tuple[FeedbackClass, str]:
    if delay_rule(notice) or delay_rule(subject):
        return FeedbackClass.SOFT, "text.delayed"
    diagnostic = _diagnostic_line(notice)
    for code in (enhanced_code(diagnostic), reply_code(diagnostic)):
        severity = severity_of_code(code)
        if severity is not None:
            return severity, f"text.smtp-{code[0]}xx"
    verdict = phrase_verdict(notice)
    if verdict is not None:
        return verdict[0], f"text.{verdict[1]}"
    # A failure notice that gives no reason: soft, so one unexplained notice suppresses nobody.
    return FeedbackClass.SOFT, "text.unspecified-failure"


def _diagnostic_line(notice: str) -> str:
    """The remote server's answer: the first line carrying a 4xx/5xx code, with what follows it."""
    lines = notice.splitlines()
    for index, line in enumerate(lines):
        if _SMTP_LINE.search(line):
            return one_line(" ".join(lines[index : index + 3]))
    return ""


def _named_as_failed(address: str, notice: str) -> bool:
    """The address starts a line (qmail `<a@b>:`, Exim and Gmail indented, Postfix `<a@b>: host
    ... said`, Sendmail `550 <a@b>...`) or follows words that name a failed recipient."""
    escaped = re.escape(address)
    pattern = re.compile(
        rf"^[\s<>\"'*:>-]{{0,12}}(?:[45]\d\d[ -]+)?(?:rcpt to:\s*)?<?{escaped}"
        rf"|(?:\bto|recipients?(?:\(s\))?|address(?:es|\(es\))?|user|mailbox|errors|failed|rejected)"
        rf"[ \t]*:?[ \t]*(?:\n[ \t]*)?<?{escaped}",
        re.IGNORECASE | re.MULTILINE,
    )
    return pattern.search(notice) is not None


def _recipients_in_notice(mail: Mail, notice: str) -> list[str]:
    """The addresses the notice names as failed, and the returned message's `To` when it names one
    address (sendpool sends each message to one recipient). Not the bounce's own parties (our VERP
    address), daemons, or whoever sent the original. An address in passing (a help desk to
    contact) is left out: a wrong address makes the app layer disbelieve the report, while none
    lets it act on the recipient of the message the VERP token names."""
    returned = [*mail.originals, parse_headers(_split_notice(mail)[1])]
    excluded = {
        address
        for name in ("from", "to", "cc", "reply-to", "return-path", "sender")
        for address in addresses_in(mail.headers.get(name))
    }
    for original in returned:
        for name in ("from", "sender", "return-path", "reply-to"):
            excluded.update(addresses_in(original.get(name)))
    for match in _SENDER_CONTEXT.finditer(notice):
        excluded.update(addresses_in(match.group(0)))
    named = [
        address
        for address in addresses_in(notice)
        if address not in excluded
        and address.split("@")[0] not in DAEMON_LOCAL_PARTS
        and not address.startswith("bounces+")
        and _named_as_failed(address, notice)
    ]
    for original in returned:
        to = [address for value in original.get_all("to") for address in addresses_in(value)]
        if len(to) == 1 and to[0] not in excluded:
            return list(dict.fromkeys([*named, *to]))
    return named
