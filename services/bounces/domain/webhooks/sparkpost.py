"""SparkPost's webhooks: a shared secret as Basic authentication or a token header, and its events' table.

SparkPost does not sign its batches. The webhook is set up with Basic authentication (any user
name, the server's `webhook_auth_token` as password) or, in its older form, with an auth token that
SparkPost sends in `X-MessageSystems-Webhook-Token`. A batch is a JSON array of `{"msys": {<kind>:
event}}`; creating or validating a webhook sends `[{"msys": {}}]`, answered 200 with nothing taken.
Our message id comes back in `rcpt_meta` (SparkPost merges a transmission's `metadata` into it).
"""

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from services.bounces.domain.feedback import Feedback, RecipientReport
from services.bounces.domain.webhooks.common import (
    NO_KEY,
    Malformed,
    Refused,
    WebhookServer,
    address_of,
    identifier,
    json_of,
    message_id_of,
    one_line,
    same_secret,
    time_of_unix,
    vendor_feedback,
)
from shared.contracts import FeedbackClass

VENDOR = "sparkpost"
KEY_SETTING = "webhook_auth_token"
TOKEN_HEADER = "x-messagesystems-webhook-token"

BOUNCE_CLASSES: dict[int, FeedbackClass] = {
    # SparkPost's bounce classification codes, by the category SparkPost gives each.
    1: FeedbackClass.UNKNOWN,  # Undetermined
    10: FeedbackClass.HARD,  # Invalid Recipient
    20: FeedbackClass.SOFT,  # Soft Bounce
    21: FeedbackClass.SOFT,  # DNS Failure
    22: FeedbackClass.SOFT,  # Mailbox Full
    23: FeedbackClass.SOFT,  # Too Large
    24: FeedbackClass.SOFT,  # Timeout
    25: FeedbackClass.UNKNOWN,  # Admin Failure: SparkPost's own policy refused it, not the recipient
    30: FeedbackClass.HARD,  # Generic Bounce: No RCPT
    40: FeedbackClass.SOFT,  # Generic Bounce
    50: FeedbackClass.SOFT,  # Mail Block (the receiver blocks the sender for now)
    51: FeedbackClass.SOFT,  # Spam Block
    52: FeedbackClass.SOFT,  # Spam Content
    53: FeedbackClass.SOFT,  # Prohibited Attachment
    54: FeedbackClass.SOFT,  # Relaying Denied
    60: FeedbackClass.AUTO_REPLY,  # Auto-Reply: never a bounce
    70: FeedbackClass.SOFT,  # Transient Failure
    80: FeedbackClass.NOT_BOUNCE,  # Subscribe: a request to subscribe, no failure
    90: FeedbackClass.UNSUBSCRIBE,  # Unsubscribe: the recipient asked to be removed
    100: FeedbackClass.AUTO_REPLY,  # Challenge-Response: an automatic answer, not a bounce
}
"""`bounce`, `out_of_band` and `policy_rejection` events by `bounce_class`; a class not listed is unknown."""

EVENTS: dict[str, FeedbackClass | None] = {
    "spam_complaint": FeedbackClass.COMPLAINT,
    "list_unsubscribe": FeedbackClass.UNSUBSCRIBE,
    "link_unsubscribe": FeedbackClass.UNSUBSCRIBE,
    # Not feedback about a failed or unwanted message: ignored. A delay is SparkPost retrying.
    "delay": None,
    "injection": None,
    "delivery": None,
    "open": None,
    "initial_open": None,
    "click": None,
    "amp_open": None,
    "amp_initial_open": None,
    "amp_click": None,
    "generation_failure": None,
    "generation_rejection": None,
}
"""Every other event; `bounce`, `out_of_band` and `policy_rejection` are decided by `BOUNCE_CLASSES`."""

BOUNCE_EVENTS = frozenset({"bounce", "out_of_band", "policy_rejection"})


def _given_secret(headers: Mapping[str, str]) -> str | None:
    token = headers.get(TOKEN_HEADER)
    if token:
        return token
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def verify(server: WebhookServer, headers: Mapping[str, str]) -> Refused | None:
    """Why the request is refused, or None when it carries the server's `webhook_auth_token`."""
    expected = server.key(KEY_SETTING)
    if expected is None:
        return NO_KEY
    given = _given_secret(headers)
    if given is None:
        return Refused(
            "missing Basic authentication or X-MessageSystems-Webhook-Token: set the SparkPost webhook's "
            "authentication",
            missing=True,
        )
    if not same_secret(given, expected):
        return Refused("the credentials do not match the server's webhook_auth_token")
    return None


def class_of(event: Mapping[str, Any]) -> tuple[FeedbackClass, str] | None:
    name = one_line(event.get("type"), 64)
    if name in BOUNCE_EVENTS:
        raw_class = event.get("bounce_class")
        try:
            bounce_class = int(raw_class) if isinstance(raw_class, int | str) else None
        except ValueError:
            bounce_class = None
        found = BOUNCE_CLASSES.get(bounce_class) if bounce_class is not None else None
        return (
            found or FeedbackClass.UNKNOWN,
            f"sparkpost.{name}.class-{bounce_class if found else 'unknown'}",
        )
    if name in EVENTS:
        found_class = EVENTS[name]
        return None if found_class is None else (found_class, f"sparkpost.{name}")
    return None


def _carried_message_id(event: Mapping[str, Any]) -> Any:
    for name in ("rcpt_meta", "metadata"):
        meta = event.get(name)
        if isinstance(meta, dict) and meta.get("sendpool_message_id"):
            return meta["sendpool_message_id"]
    return None


def feedback_of(server: WebhookServer, body: bytes) -> list[Feedback]:
    batch = json_of(body)
    if not isinstance(batch, list):
        raise Malformed("body", 'must be a JSON array of {"msys": ...} objects')
    feedback = []
    for index, item in enumerate(batch):
        msys = item.get("msys") if isinstance(item, dict) else None
        if not isinstance(msys, dict):
            raise Malformed(f"[{index}].msys", "must be an object")
        # One event per item, under its kind (`message_event`, `unsubscribe_event`, `track_event`, ...).
        for kind, event in msys.items():
            if not isinstance(event, dict):
                raise Malformed(f"[{index}].msys.{kind}", "must be an event object")
            decided = class_of(event)
            if decided is None:
                continue
            feedback_class, rule = decided
            bounced = feedback_class in {FeedbackClass.HARD, FeedbackClass.SOFT}
            feedback.append(
                vendor_feedback(
                    vendor=VENDOR,
                    event=item,
                    feedback_class=feedback_class,
                    rule=rule,
                    recipients=(
                        RecipientReport(
                            address=address_of(event.get("rcpt_to") or event.get("raw_rcpt_to")),
                            status=one_line(event.get("enhanced_code"), 32),
                            action="failed" if bounced else "",
                            diagnostic=one_line(event.get("raw_reason") or event.get("reason")),
                        ),
                    ),
                    server_id=server.server_id,
                    message_id=message_id_of(_carried_message_id(event)),
                    vendor_message_id=identifier(event.get("transmission_id")),
                    occurred_at=time_of_unix(event.get("timestamp")),
                    event_id=identifier(event.get("event_id")),
                    feedback_type=one_line(event.get("fbtype"), 64),
                )
            )
    return feedback
