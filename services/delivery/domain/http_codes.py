"""Vendor HTTP API answers mapped to what they mean for a message: accepted, refused for now or for good.

One explicit table per vendor, most specific row first, so that every decision can be read and
tested row by row, like the SMTP reply table. A row matches the HTTP status and, for vendors
that name their errors (SES's exception types, SparkPost's codes), the vendor's error code.

A row may carry an RFC 3463 enhanced status code, so that statuses from API vendors read like
those from SMTP servers. Two codes say that the server, not the message, is at fault:
`CREDENTIALS_REFUSED` (5.7.8, the code an SMTP server gives a refused AUTH, RFC 4954) and
X.3.2 ("system not accepting network messages") for an account that sends nothing for now.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent
from services.delivery.domain.smtp_codes import ReplyClass

CREDENTIALS_REFUSED = "5.7.8"
"""Enhanced code of every refusal of a server's credentials, by an API (401/403) as by SMTP AUTH (535)."""

ACCOUNT_PAUSED = "4.3.2"
ACCOUNT_SUSPENDED = "5.3.2"


@dataclass(frozen=True)
class HttpRule:
    statuses: Collection[int]
    error_code: str | None
    """The vendor's name for the error; None matches any or none."""
    reply_class: ReplyClass
    enhanced_code: str | None
    why: str

    def matches(self, status: int, error_code: str | None) -> bool:
        return status in self.statuses and self.error_code in (None, error_code)


def _status(*codes: int) -> frozenset[int]:
    return frozenset(codes)


SUCCESS = range(200, 300)
CLIENT_ERROR = range(400, 500)
SERVER_ERROR = range(500, 600)

SES_RULES: tuple[HttpRule, ...] = (
    HttpRule(SUCCESS, None, ReplyClass.ACCEPTED, None, "accepted"),
    HttpRule(
        _status(401, 403),
        None,
        ReplyClass.PERMANENT,
        CREDENTIALS_REFUSED,
        "SES refused the credentials (unknown access key, wrong secret, or no permission to send)",
    ),
    HttpRule(
        _status(429), None, ReplyClass.TRANSIENT, None, "SES throttled the request (sending rate exceeded)"
    ),
    HttpRule(
        _status(400),
        "LimitExceededException",
        ReplyClass.TRANSIENT,
        None,
        "the account's sending quota is used up",
    ),
    HttpRule(
        _status(400),
        "SendingPausedException",
        ReplyClass.TRANSIENT,
        ACCOUNT_PAUSED,
        "sending is paused for this SES account",
    ),
    HttpRule(
        _status(400),
        "AccountSuspendedException",
        ReplyClass.PERMANENT,
        ACCOUNT_SUSPENDED,
        "this SES account is suspended",
    ),
    HttpRule(_status(400), "MessageRejected", ReplyClass.PERMANENT, None, "SES refused the message"),
    HttpRule(
        _status(400),
        "MailFromDomainNotVerifiedException",
        ReplyClass.PERMANENT,
        None,
        "the sender's MAIL FROM domain is not verified in SES",
    ),
    HttpRule(
        _status(404),
        "NotFoundException",
        ReplyClass.PERMANENT,
        None,
        "SES does not know a resource the server names (its configuration set?)",
    ),
    HttpRule(CLIENT_ERROR, None, ReplyClass.PERMANENT, None, "SES refused the request as invalid"),
    HttpRule(SERVER_ERROR, None, ReplyClass.TRANSIENT, None, "SES is failing or unavailable"),
)

SENDGRID_RULES: tuple[HttpRule, ...] = (
    HttpRule(SUCCESS, None, ReplyClass.ACCEPTED, None, "accepted"),
    HttpRule(
        _status(401, 403),
        None,
        ReplyClass.PERMANENT,
        CREDENTIALS_REFUSED,
        "SendGrid refused the API key (invalid, revoked, or not allowed to send from this address)",
    ),
    HttpRule(_status(413), None, ReplyClass.PERMANENT, None, "the message is larger than SendGrid accepts"),
    HttpRule(_status(429), None, ReplyClass.TRANSIENT, None, "SendGrid's rate limit was reached"),
    HttpRule(CLIENT_ERROR, None, ReplyClass.PERMANENT, None, "SendGrid refused the request as invalid"),
    HttpRule(SERVER_ERROR, None, ReplyClass.TRANSIENT, None, "SendGrid is failing or unavailable"),
)

MAILGUN_RULES: tuple[HttpRule, ...] = (
    HttpRule(SUCCESS, None, ReplyClass.ACCEPTED, None, "accepted"),
    HttpRule(
        _status(401, 403),
        None,
        ReplyClass.PERMANENT,
        CREDENTIALS_REFUSED,
        "Mailgun refused the API key (invalid, or not allowed to send for this domain)",
    ),
    HttpRule(
        _status(404), None, ReplyClass.PERMANENT, None, "Mailgun does not know the server's sending domain"
    ),
    HttpRule(_status(413), None, ReplyClass.PERMANENT, None, "the message is larger than Mailgun accepts"),
    HttpRule(_status(429), None, ReplyClass.TRANSIENT, None, "Mailgun's rate limit was reached"),
    HttpRule(CLIENT_ERROR, None, ReplyClass.PERMANENT, None, "Mailgun refused the request as invalid"),
    HttpRule(SERVER_ERROR, None, ReplyClass.TRANSIENT, None, "Mailgun is failing or unavailable"),
)

SPARKPOST_RECIPIENTS_REJECTED = "recipients_rejected"
"""Not SparkPost's own code: SparkPost answers 200 even when it rejected every recipient of a
transmission (a suppressed address, say); the adapter names that case so a row can decide it."""

SPARKPOST_RULES: tuple[HttpRule, ...] = (
    HttpRule(
        _status(200),
        SPARKPOST_RECIPIENTS_REJECTED,
        ReplyClass.PERMANENT,
        None,
        "SparkPost rejected the recipient (on a suppression list?)",
    ),
    HttpRule(SUCCESS, None, ReplyClass.ACCEPTED, None, "accepted"),
    HttpRule(
        _status(401, 403),
        None,
        ReplyClass.PERMANENT,
        CREDENTIALS_REFUSED,
        "SparkPost refused the API key (invalid, or without the Transmissions permission)",
    ),
    HttpRule(
        _status(420),
        None,
        ReplyClass.TRANSIENT,
        None,
        "the account's sending limit is reached (SparkPost then sends nothing of the transmission)",
    ),
    HttpRule(_status(429), None, ReplyClass.TRANSIENT, None, "SparkPost's rate limit was reached"),
    HttpRule(CLIENT_ERROR, None, ReplyClass.PERMANENT, None, "SparkPost refused the request as invalid"),
    HttpRule(SERVER_ERROR, None, ReplyClass.TRANSIENT, None, "SparkPost is failing or unavailable"),
)

ELASTICEMAIL_RULES: tuple[HttpRule, ...] = (
    HttpRule(SUCCESS, None, ReplyClass.ACCEPTED, None, "accepted"),
    HttpRule(
        _status(401, 403),
        None,
        ReplyClass.PERMANENT,
        CREDENTIALS_REFUSED,
        "Elastic Email refused the API key (invalid, or without the SendHttp access level)",
    ),
    HttpRule(_status(429), None, ReplyClass.TRANSIENT, None, "Elastic Email's rate limit was reached"),
    HttpRule(CLIENT_ERROR, None, ReplyClass.PERMANENT, None, "Elastic Email refused the request as invalid"),
    HttpRule(SERVER_ERROR, None, ReplyClass.TRANSIENT, None, "Elastic Email is failing or unavailable"),
)

_UNDOCUMENTED = HttpRule(
    range(0), None, ReplyClass.PERMANENT, None, "an answer the vendor does not document (a wrong base URL?)"
)


def classify_http(rules: tuple[HttpRule, ...], status: int, error_code: str | None = None) -> HttpRule:
    """The first rule that matches, or a failure for a status no row expects (1xx, 3xx)."""
    return next((rule for rule in rules if rule.matches(status, error_code)), _UNDOCUMENTED)


@dataclass(frozen=True)
class VendorAnswer:
    """What a vendor answered to one request, in its own terms."""

    vendor: str
    status: int
    error_code: str | None = None
    reason: str = ""
    """The vendor's own words (its error message), for a person to read."""
    message_id: str | None = None
    retry_after: float | None = None


def describe(rule: HttpRule, answer: VendorAnswer) -> str:
    said = f"{answer.status} {answer.error_code}" if answer.error_code else str(answer.status)
    reason = f": {answer.reason}" if answer.reason else ""
    return f"{rule.why}; {answer.vendor} answered {said}{reason}"


def public_description(rule: HttpRule, answer: VendorAnswer) -> str:
    """`describe` without the vendor's own words, for a connection test a tenant reads: the base URL
    is the tenant's to choose, so whatever answers there must not be read back through sendpool. The
    vendor's error code is kept only when the vendor's table names it."""
    said = f"HTTP {answer.status} {rule.error_code}" if rule.error_code else f"HTTP {answer.status}"
    return f"{rule.why}; {answer.vendor} answered {said}"


def outcome_of(rules: tuple[HttpRule, ...], answer: VendorAnswer) -> SendOutcome:
    rule = classify_http(rules, answer.status, answer.error_code)
    match rule.reply_class:
        case ReplyClass.ACCEPTED:
            return Sent(answer.message_id, answer.status, f"accepted by {answer.vendor} ({answer.status})")
        case ReplyClass.TRANSIENT:
            return Deferred(answer.status, rule.enhanced_code, describe(rule, answer), answer.retry_after)
        case ReplyClass.PERMANENT:
            return Failed(answer.status, rule.enhanced_code, describe(rule, answer))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header (RFC 9110: delay-seconds or an HTTP-date) as seconds from `now`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may come without a zone
        when = when.replace(tzinfo=now.tzinfo)
    return max(0.0, (when - now).total_seconds())
