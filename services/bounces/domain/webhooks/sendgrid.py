"""SendGrid's signed Event Webhook: an ECDSA signature over timestamp + body, and its events' table.

SendGrid signs each POST with the webhook's private key (ECDSA P-256, SHA-256) over the
`X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw body, and sends the signature
(base64 DER) in `X-Twilio-Email-Event-Webhook-Signature`; the server's `webhook_verification_key`
is the public key SendGrid shows for it. The body is a JSON array of events; our message id comes
back as the `sendpool_message_id` custom arg, which SendGrid puts among each event's fields.
"""

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from services.bounces.domain.feedback import Feedback, RecipientReport
from services.bounces.domain.webhooks.common import (
    NO_KEY,
    STATUS_MAX,
    Malformed,
    Refused,
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

VENDOR = "sendgrid"
KEY_SETTING = "webhook_verification_key"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

BOUNCE_TYPES: dict[str, FeedbackClass] = {
    "bounce": FeedbackClass.HARD,  # the receiving server refused the address for good
    "blocked": FeedbackClass.SOFT,  # the receiving server refused the message (reputation, content) for now
}
"""`bounce` events by their `type`; an event without one is SendGrid's older form of a hard bounce."""

DROPPED_REASONS: dict[str, FeedbackClass] = {
    # SendGrid refuses to send to an address on its own suppression lists: it knows the address is
    # dead or unwilling, so the tenant's other servers must stop mailing it too (suppressing it again
    # is harmless: a suppression is idempotent).
    "Bounced Address": FeedbackClass.HARD,
    "Unsubscribed Address": FeedbackClass.UNSUBSCRIBE,
    "Spam Reporting Address": FeedbackClass.COMPLAINT,
    "Invalid": FeedbackClass.HARD,  # not an address SendGrid can send to
}
"""`dropped` events by their `reason`; any other reason (spam content, a quota, an invalid
header) says nothing about the recipient: kept as unknown, never acted on."""

EVENTS: dict[str, FeedbackClass | None] = {
    "spamreport": FeedbackClass.COMPLAINT,
    "unsubscribe": FeedbackClass.UNSUBSCRIBE,
    "group_unsubscribe": FeedbackClass.UNSUBSCRIBE,
    # Not feedback about a failed or unwanted message: ignored. A deferral is SendGrid retrying, which
    # ends in `delivered` or `bounce`; counting each retry as a soft bounce would count one message
    # several times.
    "processed": None,
    "deferred": None,
    "delivered": None,
    "open": None,
    "click": None,
    "group_resubscribe": None,
}
"""Every other event; `bounce` and `dropped` are decided by the two tables above."""


def verify(
    server: WebhookServer, headers: Mapping[str, str], body: bytes, now: datetime, tolerance: int
) -> Refused | None:
    """Why the request is refused, or None when SendGrid signed it within the tolerance."""
    public_key = server.key(KEY_SETTING)
    if public_key is None:
        return NO_KEY
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        return Refused(
            "missing X-Twilio-Email-Event-Webhook-Signature or -Timestamp: enable signature verification "
            "on the SendGrid event webhook",
            missing=True,
        )
    if not timestamp.isdigit():
        return Refused("X-Twilio-Email-Event-Webhook-Timestamp is not a Unix time")
    if (too_old := stale(timestamp, now, tolerance)) is not None:
        return too_old
    try:
        key = load_der_public_key(base64.b64decode(public_key))
        signature_bytes = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return Refused("the signature is not base64")
    if not isinstance(key, ec.EllipticCurvePublicKey):  # the catalog accepts no other key
        return Refused("the server's webhook_verification_key is no ECDSA key")
    try:
        key.verify(signature_bytes, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return Refused("the signature does not verify with the server's webhook_verification_key")
    return None


def class_of(event: Mapping[str, Any]) -> tuple[FeedbackClass, str] | None:
    """The class of one event and the rule that decided it; None for an event that is no feedback."""
    name = one_line(event.get("event"), 64)
    if name == "bounce":
        kind = one_line(event.get("type"), 64) or "bounce"
        return BOUNCE_TYPES.get(kind, FeedbackClass.UNKNOWN), f"sendgrid.bounce.{kind}"
    if name == "dropped":
        reason = one_line(event.get("reason"), 200)
        found = DROPPED_REASONS.get(reason)
        if found is None:
            return FeedbackClass.UNKNOWN, "sendgrid.dropped.other"
        return found, f"sendgrid.dropped.{reason.lower().replace(' ', '-')}"
    if name in EVENTS:
        found_class = EVENTS[name]
        return None if found_class is None else (found_class, f"sendgrid.{name}")
    return None  # an event SendGrid added later: not ours to guess at


def feedback_of(server: WebhookServer, body: bytes) -> list[Feedback]:
    events = json_of(body)
    if not isinstance(events, list):
        raise Malformed("body", "must be a JSON array of events")
    feedback = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Malformed(f"[{index}]", "must be an event object")
        decided = class_of(event)
        if decided is None:
            continue
        feedback_class, rule = decided
        custom_args = event.get("custom_args")
        carried = event.get("sendpool_message_id") or (
            custom_args.get("sendpool_message_id") if isinstance(custom_args, dict) else None
        )
        # `sg_message_id` is the X-Message-Id SendGrid answered the send with, then a dot and more.
        vendor_message_id = identifier(event.get("sg_message_id")).split(".", 1)[0]
        feedback.append(
            vendor_feedback(
                vendor=VENDOR,
                event=event,
                feedback_class=feedback_class,
                rule=rule,
                recipients=(
                    RecipientReport(
                        address=address_of(event.get("email")),
                        status=one_line(event.get("status"), STATUS_MAX),
                        action="failed" if feedback_class in {FeedbackClass.HARD, FeedbackClass.SOFT} else "",
                        diagnostic=one_line(event.get("reason")),
                    ),
                ),
                server_id=server.server_id,
                message_id=message_id_of(carried),
                vendor_message_id=vendor_message_id,
                occurred_at=time_of_unix(event.get("timestamp")),
                event_id=identifier(event.get("sg_event_id")),
            )
        )
    return feedback
