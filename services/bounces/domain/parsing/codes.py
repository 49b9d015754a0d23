"""From what a remote system said to hard or soft: enhanced status codes (RFC 3463), SMTP reply
codes (RFC 5321), and, when a prose bounce gives no code, well-known phrases.

Hard means the address itself is bad for good (it is suppressed at once), soft that delivery
failed for a reason that may pass (suppressed only after repeated soft bounces). The class digit
of a code decides when there is one: 5 is permanent, 4 transient (RFC 3463 section 3.1). Phrases
are the fallback, one table row each, so a rule name says which matched.
"""

import re

from shared.contracts import FeedbackClass

_ENHANCED = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_REPLY = re.compile(r"(?<![\w.\-:/#=+,])([45][0-5]\d)(?=[ \-]|$)", re.MULTILINE)

SEVERITY_BY_CLASS_DIGIT = {"5": FeedbackClass.HARD, "4": FeedbackClass.SOFT}


def enhanced_code(text: str) -> str:
    """The first 4.x.x or 5.x.x enhanced status code in text, "" when there is none."""
    match = _ENHANCED.search(text)
    return ".".join(match.groups()) if match else ""


def reply_code(text: str) -> str:
    """The first 4xx or 5xx SMTP reply code in text, "" when there is none."""
    match = _REPLY.search(text)
    return match.group(1) if match else ""


def severity_of_code(code: str) -> FeedbackClass | None:
    return SEVERITY_BY_CLASS_DIGIT.get(code[:1])


DELAY_PHRASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "delayed",
        re.compile(
            r"has been delayed|delivery (?:is |has been )?delayed|not yet been delivered|will be retried"
            r"|still being retried|warning message only|will continue to (?:be )?(?:attempt|retr)"
            r"|delivery attempts will continue|temporarily deferred|message delayed|\bdelayed \d",
            re.IGNORECASE,
        ),
    ),
)
"""A warning that delivery is still being tried: soft whatever else the text says."""

PHRASES: tuple[tuple[str, FeedbackClass, re.Pattern[str]], ...] = (
    (
        "user-unknown",
        FeedbackClass.HARD,
        re.compile(
            r"user(?:name)? (?:is )?unknown|unknown (?:user|recipient|address|local[ -]?part|mailbox)"
            r"|no such (?:user|recipient|mailbox|address|account|person)|user (?:not found|does not exist)"
            r"|user not exist|recipient (?:address )?(?:not found|unknown|does not exist)"
            r"|address (?:not found|does not exist|unknown)|(?:mailbox|account|address) does not exist"
            r"|not listed in|invalid (?:recipient|mailbox|address)|no mailbox|mailbox (?:not found|unavailable)"
            r"|recipient name is not recognized|not a valid (?:recipient|mailbox|user)"
            r"|wasn.t found at the destination|no longer (?:exists|valid|active)|bad destination mailbox"
            r"|user doesn.t have an? .{0,20}account|doesn.t exist",
            re.IGNORECASE,
        ),
    ),
    (
        "mailbox-disabled",
        FeedbackClass.HARD,
        re.compile(
            r"(?:account|mailbox|address|recipient)(?: address)? (?:is |has been )?"
            r"(?:disabled|deactivated|closed|suspended|locked|inactive|expired)",
            re.IGNORECASE,
        ),
    ),
    (
        "host-unknown",
        FeedbackClass.HARD,
        re.compile(
            r"host (?:not found|unknown)|unknown host|domain (?:not found|does not exist|is not valid)"
            r"|no such domain|unroutable|unrouteable|name service error|nxdomain|domain name not found",
            re.IGNORECASE,
        ),
    ),
    (
        "mailbox-full",
        FeedbackClass.SOFT,
        re.compile(
            r"mailbox (?:is )?full|(?:mailbox|inbox) (?:is )?over|over ?quota|quota (?:exceeded|full)"
            r"|exceeded (?:the |their |his |her )?(?:storage|quota|mailbox)|disk quota|insufficient (?:storage|system)"
            r"|mailbox.{0,30}exceeded|exceeded the local limit|too many messages|storage (?:space )?(?:full|limit)",
            re.IGNORECASE,
        ),
    ),
    (
        "message-too-large",
        FeedbackClass.SOFT,
        re.compile(r"message (?:is )?too (?:large|big)|size limit|exceeds? (?:the )?(?:maximum )?size", re.I),
    ),
    (
        "policy-block",
        FeedbackClass.SOFT,
        re.compile(
            r"\bspam\b|blacklist|blocklist|block list|black list|\bblocked\b|\bdnsbl\b|\brbl\b"
            r"|reputation|content rejected|policy",
            re.IGNORECASE,
        ),
    ),
    (
        "expired",
        FeedbackClass.SOFT,
        re.compile(
            r"retry time(?:out)? (?:exceeded|reached)|timed? ?out|connection refused|no smtp connection"
            r"|could not deliver for the last|in the queue too long|been failing for a long time"
            r"|cannot send message for|could not send mail for|giving up|unable to connect",
            re.IGNORECASE,
        ),
    ),
    (
        "permanent",
        FeedbackClass.HARD,
        re.compile(r"permanent (?:error|failure|fatal)|failed permanently|permanently|fatal error", re.I),
    ),
)
"""Phrases, tried in order when no code decides. Policy blocks (spam, block lists) are soft: the
address is likely fine; it is the sending server or the content that was refused."""


def delay_rule(text: str) -> str | None:
    for name, pattern in DELAY_PHRASES:
        if pattern.search(text):
            return name
    return None


def phrase_verdict(text: str) -> tuple[FeedbackClass, str] | None:
    """The first table row whose phrase is in text: its class and name."""
    for name, feedback_class, pattern in PHRASES:
        if pattern.search(text):
            return feedback_class, name
    return None
