"""Mailgun's webhooks: an HMAC-SHA256 signature of timestamp + token, and its events' table.

Each POST is one JSON object: `signature` {timestamp, token, signature} and `event-data`. The
signature is HMAC-SHA256 under the server's `webhook_signing_key` of the timestamp followed by the
token, in hex. A timestamp beyond the tolerance is refused, and so is a token seen before (a
captured request sent again). Our message id comes back as the `v:sendpool_message_id` variable,
in `event-data.user-variables`.
"""

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.bounces.domain.feedback import Feedback, RecipientReport
from services.bounces.domain.webhooks.common import (
    NO_KEY,
    STATUS_MAX,
    Malformed,
    Refused,
    SeenTokens,
    WebhookServer,
    address_of,
    identifier,
    json_of,
    message_id_of,
    one_line,
    stale,
    time_of_unix,
    vendor_feedback,
)
from shared.contracts import FeedbackClass

VENDOR = "mailgun"
KEY_SETTING = "webhook_signing_key"
TOKEN_MAX = 256

FAILED_SEVERITIES: dict[str, FeedbackClass] = {
    "permanent": FeedbackClass.HARD,
    "temporary": FeedbackClass.SOFT,
}
"""`failed` events by their `severity`, unless their `reason` is in `FAILED_REASONS`."""

FAILED_REASONS: dict[str, FeedbackClass] = {
    # Mailgun refused to send to an address on its own suppression lists (like SendGrid's drops).
    "suppress-bounce": FeedbackClass.HARD,
    "suppress-unsubscribe": FeedbackClass.UNSUBSCRIBE,
    "suppress-complaint": FeedbackClass.COMPLAINT,
    # Mailgun stopped retrying a message that only ever failed temporarily: not a dead address.
    "old": FeedbackClass.SOFT,
}

EVENTS: dict[str, FeedbackClass | None] = {
    "complained": FeedbackClass.COMPLAINT,
    "unsubscribed": FeedbackClass.UNSUBSCRIBE,
    # Not feedback about a failed or unwanted message: ignored.
    "accepted": None,
    "rejected": None,  # Mailgun refused our API call: delivery saw that answer already
    "delivered": None,
    "opened": None,
    "clicked": None,
    "stored": None,
    "list_member_uploaded": None,
}
"""Every other event; `failed` is decided by the two tables above."""


def _signature_of(document: Any) -> Mapping[str, Any]:
    signature = document.get("signature") if isinstance(document, dict) else None
    return signature if isinstance(signature, dict) else {}


def verify(
    server: WebhookServer, body: bytes, now: datetime, tolerance: int, seen: SeenTokens
) -> Refused | None:
    """Why the request is refused, or None when Mailgun signed it within the tolerance, for the first time."""
    signing_key = server.key(KEY_SETTING)
    if signing_key is None:
        return NO_KEY
    try:
        signature = _signature_of(json_of(body))
    except Malformed:
        signature = {}
    timestamp, token, digest = (signature.get(name) for name in ("timestamp", "token", "signature"))
    if not all(
        isinstance(value, str | int) and not isinstance(value, bool) for value in (timestamp, token, digest)
    ):
        return Refused("missing signature {timestamp, token, signature} in the body", missing=True)
    timestamp, token, digest = str(timestamp), str(token), str(digest)
    if len(token) > TOKEN_MAX or len(timestamp) > 20:
        return Refused("the signature's token or timestamp is too long")
    if (too_old := stale(timestamp, now, tolerance)) is not None:
        return too_old
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), digest.lower().encode()):
        return Refused("the signature does not verify with the server's webhook_signing_key")
    if token in seen:
        return Refused("this signature's token was used before (a replayed request)")
    return None


def token_of(body: bytes) -> str:
    """The signature's token of a verified request, to remember once it is taken."""
    return str(_signature_of(json_of(body)).get("token"))


def class_of(event: Mapping[str, Any]) -> tuple[FeedbackClass, str] | None:
    """The class of one event and the rule that decided it; None for an event that is no feedback."""
    name = one_line(event.get("event"), 64)
    if name == "failed":
        reason = one_line(event.get("reason"), 64)
        if reason in FAILED_REASONS:
            return FAILED_REASONS[reason], f"mailgun.failed.{reason}"
        severity = one_line(event.get("severity"), 64)
        return FAILED_SEVERITIES.get(
            severity, FeedbackClass.UNKNOWN
        ), f"mailgun.failed.{severity or 'unknown'}"
    if name in EVENTS:
        found = EVENTS[name]
        return None if found is None else (found, f"mailgun.{name}")
    return None


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, dict) else {}


def feedback_of(server: WebhookServer, body: bytes) -> list[Feedback]:
    document = json_of(body)
    event = document.get("event-data") if isinstance(document, dict) else None
    if not isinstance(event, dict):
        raise Malformed("event-data", "must be an object (Mailgun's webhooks, not its legacy form posts)")
    decided = class_of(event)
    if decided is None:
        return []
    feedback_class, rule = decided
    status = _object(event, "delivery-status")
    code = one_line(status.get("enhanced-code"), STATUS_MAX) or one_line(status.get("code"), STATUS_MAX)
    headers = _object(_object(event, "message"), "headers")
    return [
        vendor_feedback(
            vendor=VENDOR,
            event=event,  # the signature is left out: it proves nothing once checked
            feedback_class=feedback_class,
            rule=rule,
            recipients=(
                RecipientReport(
                    address=address_of(event.get("recipient")),
                    status=code if "." in code else "",
                    action="failed" if event.get("event") == "failed" else "",
                    diagnostic=one_line(status.get("message")) or one_line(status.get("description")),
                    remote_mta=one_line(status.get("mx-host"), 255),
                ),
            ),
            server_id=server.server_id,
            message_id=message_id_of(_object(event, "user-variables").get("sendpool_message_id")),
            vendor_message_id=identifier(headers.get("message-id")).strip("<>"),
            occurred_at=time_of_unix(event.get("timestamp")),
            event_id=identifier(event.get("id")),
            feedback_type="abuse" if rule == "mailgun.complained" else "",
        )
    ]
