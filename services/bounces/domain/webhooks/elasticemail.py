"""Elastic Email's HTTP web notifications: a token in the URL, and its statuses' and categories' tables.

Elastic Email neither signs nor authenticates its notifications: the notification URL set at
Elastic Email carries the server's `webhook_token` as its `token` query parameter, and a request
without it is refused. A notification is one event, sent as a GET with its fields as query
parameters (`to`, `status`, `category`, `transaction`, `messageid`, `postback`, `date`, ...); the
same fields posted as a form or a JSON object are taken too. Our message id comes back as
`postback`, the Postback the message was sent with.
"""

from collections.abc import Mapping

from services.bounces.domain.feedback import Feedback, RecipientReport
from services.bounces.domain.webhooks.common import (
    NO_KEY,
    Refused,
    WebhookServer,
    address_of,
    identifier,
    message_id_of,
    one_line,
    raw_of,
    same_secret,
    time_of_iso,
    vendor_feedback,
)
from shared.contracts import FeedbackClass

VENDOR = "elasticemail"
KEY_SETTING = "webhook_token"
TOKEN_PARAMETER = "token"

CATEGORIES: dict[str, FeedbackClass] = {
    # Elastic Email's message categories of an `Error` (bounced) notification.
    "NoMailbox": FeedbackClass.HARD,  # the address does not exist
    "Ignore": FeedbackClass.HARD,  # not sent: an address Elastic Email will not send to (invalid)
    "Spam": FeedbackClass.SOFT,  # refused as spam by the receiver
    "BlackListed": FeedbackClass.SOFT,  # the sender's IP or domain is on a block list
    "GreyListed": FeedbackClass.SOFT,
    "Throttled": FeedbackClass.SOFT,
    "Timeout": FeedbackClass.SOFT,
    "ConnectionProblem": FeedbackClass.SOFT,
    "ConnectionTerminated": FeedbackClass.SOFT,
    "DNSProblem": FeedbackClass.SOFT,  # the recipient domain's DNS
    "WhitelistingProblem": FeedbackClass.SOFT,
    "ContentFilter": FeedbackClass.SOFT,
    # The sender's own set-up or account, or a cancellation: nothing about the recipient.
    "SPFProblem": FeedbackClass.UNKNOWN,
    "AccountProblem": FeedbackClass.UNKNOWN,
    "CodeError": FeedbackClass.UNKNOWN,
    "NotDelivered": FeedbackClass.UNKNOWN,  # on Elastic Email's own lists, for a reason it does not say
    "ManualCancel": FeedbackClass.NOT_BOUNCE,
    "NotDeliveredCancelled": FeedbackClass.NOT_BOUNCE,
    "Unknown": FeedbackClass.UNKNOWN,
}
"""`Error` notifications by `category`; a category not listed is unknown."""

STATUSES: dict[str, FeedbackClass | None] = {
    "AbuseReport": FeedbackClass.COMPLAINT,
    "Unsubscribed": FeedbackClass.UNSUBSCRIBE,
    # Not feedback about a failed or unwanted message: ignored.
    "Sent": None,
    "Delivered": None,
    "Opened": None,
    "Clicked": None,
    "ReadyToSend": None,
    "WaitingToRetry": None,  # Elastic Email retrying: not a bounce (yet)
    "Sending": None,
}
"""Every other status; `Error` is decided by `CATEGORIES`."""


def verify(server: WebhookServer, query: Mapping[str, str]) -> Refused | None:
    """Why the request is refused, or None when its `token` is the server's `webhook_token`."""
    expected = server.key(KEY_SETTING)
    if expected is None:
        return NO_KEY
    given = query.get(TOKEN_PARAMETER)
    if not given:
        return Refused(
            "missing token query parameter: give the notification URL at Elastic Email as "
            ".../webhooks/elasticemail/<server id>?token=<webhook_token>",
            missing=True,
        )
    if not same_secret(given, expected):
        return Refused("the token does not match the server's webhook_token")
    return None


def class_of(fields: Mapping[str, str]) -> tuple[FeedbackClass, str] | None:
    status = one_line(fields.get("status"), 64)
    if status == "Error":
        category = one_line(fields.get("category"), 64) or "Unknown"
        if category not in CATEGORIES:
            return FeedbackClass.UNKNOWN, "elasticemail.error.other"
        return CATEGORIES[category], f"elasticemail.error.{category.lower()}"
    if status in STATUSES:
        found = STATUSES[status]
        return None if found is None else (found, f"elasticemail.{status.lower()}")
    return None


def feedback_of(server: WebhookServer, fields: Mapping[str, str]) -> list[Feedback]:
    """`fields`: the notification's parameters, the `token` left out."""
    decided = class_of(fields)
    if decided is None:
        return []
    feedback_class, rule = decided
    event = {name: one_line(value) for name, value in fields.items() if name != TOKEN_PARAMETER}
    transaction = identifier(fields.get("transaction"))
    to = address_of(fields.get("to"))
    # Elastic Email gives no event id: what tells one notification from another is in its fields.
    event_id = ":".join(
        [transaction, to, one_line(fields.get("status"), 64), one_line(fields.get("date"), 64)]
    )
    return [
        vendor_feedback(
            vendor=VENDOR,
            event=event,
            raw=raw_of(event),
            feedback_class=feedback_class,
            rule=rule,
            recipients=(
                RecipientReport(
                    address=to,
                    action="failed" if feedback_class in {FeedbackClass.HARD, FeedbackClass.SOFT} else "",
                    diagnostic=one_line(fields.get("category"), 64),
                ),
            ),
            server_id=server.server_id,
            message_id=message_id_of(fields.get("postback")),
            vendor_message_id=identifier(fields.get("messageid")) or transaction,
            occurred_at=time_of_iso(fields.get("date")),
            event_id=event_id,
        )
    ]
