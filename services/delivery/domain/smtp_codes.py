"""SMTP replies mapped to what they mean for a message: accepted, refused for now (try later) or for good.

One explicit table, most specific row first, so that every decision can be read and tested row
by row. A reply is matched on its basic code (RFC 5321) and, when the server gave one, its
enhanced status code (RFC 3463), which is more precise than the basic code in a few known cases.
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class ReplyClass(StrEnum):
    """What a server's (or a vendor API's) reply says of the message it answers. The adapter turns
    it into the attempt's outcome: accepted into `Sent`, transient into `Deferred`, permanent into `Failed`."""

    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    """Refused for now: the same message may be accepted later."""
    PERMANENT = "permanent"
    """Refused for good: sending the message again would be refused again."""


@dataclass(frozen=True)
class ReplyRule:
    reply_codes: range
    enhanced_code: str | None
    """`class.subject.detail`, with `*` for "any class" (e.g. `*.2.2`); None matches any or none."""
    reply_class: ReplyClass
    close_connection: bool
    why: str

    def matches(self, reply_code: int, enhanced_code: str | None) -> bool:
        if reply_code not in self.reply_codes:
            return False
        if self.enhanced_code is None:
            return True
        if enhanced_code is None:
            return False
        wanted_class, wanted_rest = self.enhanced_code.split(".", 1)
        given_class, given_rest = enhanced_code.split(".", 1)
        return wanted_rest == given_rest and wanted_class in ("*", given_class)


def _code(value: int) -> range:
    return range(value, value + 1)


REPLY_RULES: tuple[ReplyRule, ...] = (
    ReplyRule(
        _code(421),
        None,
        ReplyClass.TRANSIENT,
        True,
        "service not available: the server is closing the connection (RFC 5321 3.8)",
    ),
    ReplyRule(
        _code(552),
        "*.2.2",
        ReplyClass.TRANSIENT,
        False,
        "mailbox full: RFC 3463 calls X.2.2 a persistent transient failure",
    ),
    ReplyRule(
        _code(552),
        "*.5.3",
        ReplyClass.TRANSIENT,
        False,
        "too many recipients: RFC 5321 4.5.3.1.10 asks clients to treat it as temporary",
    ),
    ReplyRule(range(200, 300), None, ReplyClass.ACCEPTED, False, "accepted"),
    ReplyRule(range(400, 500), None, ReplyClass.TRANSIENT, False, "transient negative completion"),
    ReplyRule(range(500, 600), None, ReplyClass.PERMANENT, False, "permanent negative completion"),
)

_UNEXPECTED = ReplyRule(
    range(0),
    None,
    ReplyClass.PERMANENT,
    True,
    "not a completion reply: the conversation is out of step, so start afresh",
)


def classify(reply_code: int, enhanced_code: str | None = None) -> ReplyRule:
    """The first rule of `REPLY_RULES` that matches, or a failure for a code that is no final reply."""
    return next((rule for rule in REPLY_RULES if rule.matches(reply_code, enhanced_code)), _UNEXPECTED)


_ENHANCED_CODE = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})(?!\S)")


def enhanced_code_of(reply_text: str) -> str | None:
    """The RFC 3463 code a reply text starts with (`5.1.1 User unknown` → `5.1.1`), if any."""
    found = _ENHANCED_CODE.match(reply_text)
    return found.group(1) if found else None


# Postfix: "queued as 4Xyz"; Exim: "OK id=1abc-000-00"; many others: "Ok: <id>" or "queued <id>".
_QUEUE_ID = re.compile(r"queued as\s+<?([^\s>]+)>?|\bid=<?([^\s>]+)>?", re.IGNORECASE)


def queue_id_of(reply_text: str) -> str | None:
    """The receiving server's id for an accepted message, when its reply names one."""
    found = _QUEUE_ID.search(reply_text)
    return next((group for group in found.groups() if group), None) if found else None
