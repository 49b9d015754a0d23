"""Amazon SES notifications through SNS: the SNS message signature, the allowed hosts, and SES's table.

SNS signs every message it posts (`SignatureVersion` 1: RSA with SHA1, 2: RSA with SHA256) over a
canonical string of its fields, with the key of the certificate at `SigningCertURL`. That URL is
in the message, so anyone could sign with a certificate they serve themselves: it is fetched only
from an https URL whose host is on the allowed patterns (`SENDPOOL_BOUNCES_SNS_CERT_HOSTS`, SNS's
own hosts by default), and so is a `SubscribeURL` before it is confirmed. A server may also name
the topics it takes (`sns_topic_arns`). A `Notification`'s `Message` is the SES notification:
`Bounce` and `Complaint` are feedback, everything else (`Delivery`, ...) is ignored. Our message id
comes back in the `X-Sendpool-Message-Id` header SES lists in `mail.headers`.
"""

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.bounces.domain.feedback import Feedback, RecipientReport
from services.bounces.domain.webhooks.common import (
    STATUS_MAX,
    Malformed,
    Refused,
    WebhookServer,
    address_of,
    identifier,
    json_of,
    message_id_of,
    one_line,
    time_of_iso,
    vendor_feedback,
)
from shared.contracts import FeedbackClass

VENDOR = "ses"
TOPICS_SETTING = "sns_topic_arns"
MESSAGE_ID_HEADER = "x-sendpool-message-id"
RECIPIENTS_MAX = 50
"""SES lists at most 50 recipients per message; more in a notification is not SES."""

BOUNCE_TYPES: dict[str, FeedbackClass] = {
    "Permanent": FeedbackClass.HARD,
    "Transient": FeedbackClass.SOFT,
    "Undetermined": FeedbackClass.UNKNOWN,
}
"""`Bounce` notifications by `bounce.bounceType`; any other type is unknown."""

COMPLAINT_TYPES: dict[str, FeedbackClass] = {
    "": FeedbackClass.COMPLAINT,  # most complaints come without a feedback type
    "abuse": FeedbackClass.COMPLAINT,
    "fraud": FeedbackClass.COMPLAINT,
    "other": FeedbackClass.COMPLAINT,
    "not-spam": FeedbackClass.NOT_BOUNCE,  # the recipient says the message is not spam
    # Reports about the message, not the recipient's wish: kept, never acted on.
    "auth-failure": FeedbackClass.UNKNOWN,
    "virus": FeedbackClass.UNKNOWN,
}
"""`Complaint` notifications by `complaint.complaintFeedbackType`; any other type is a complaint."""

IGNORED_TYPES = frozenset(
    {
        "Delivery",
        "Send",
        "Reject",
        "Open",
        "Click",
        "Rendering Failure",
        "DeliveryDelay",
        "Subscription",
        "AmazonSnsSubscriptionSucceeded",
    }
)
"""Notification (or event publishing) types that are no feedback: answered 200, nothing taken."""

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]

_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    # SNS's canonical string: these fields in this order, each as "name\nvalue\n"; Subject only if present.
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class SnsMessage:
    """The fields of a message SNS posted (all text, as SNS sends them)."""

    fields: Mapping[str, str]

    @property
    def type(self) -> str:
        return self.fields.get("Type", "")

    @property
    def signing_cert_url(self) -> str:
        return self.fields.get("SigningCertURL", "")

    @property
    def subscribe_url(self) -> str:
        return self.fields.get("SubscribeURL", "")

    @property
    def topic_arn(self) -> str:
        return self.fields.get("TopicArn", "")

    def string_to_sign(self) -> bytes:
        names = _SIGNED_FIELDS[self.type]
        return "".join(f"{name}\n{self.fields[name]}\n" for name in names if name in self.fields).encode()


def sns_message_of(body: bytes) -> SnsMessage | Refused:
    """The SNS message in `body`; refused (unsigned) when it is not one, e.g. SES's raw message delivery."""
    try:
        document = json_of(body)
    except Malformed:
        document = None
    if not isinstance(document, dict) or document.get("Type") not in _SIGNED_FIELDS:
        return Refused(
            "not an SNS message (Type Notification, SubscriptionConfirmation or UnsubscribeConfirmation): "
            "subscribe the webhook to the SNS topic, without raw message delivery",
            missing=True,
        )
    if not all(
        isinstance(document.get(name), str) for name in ("Signature", "SignatureVersion", "SigningCertURL")
    ):
        return Refused("missing Signature, SignatureVersion or SigningCertURL", missing=True)
    fields = {name: value for name, value in document.items() if isinstance(value, str)}
    required = [name for name in _SIGNED_FIELDS[document["Type"]] if name != "Subject" and name not in fields]
    if required:
        return Refused(f"missing {', '.join(required)} of the signed fields")
    return SnsMessage(fields)


def valid_host_pattern(pattern: str) -> bool:
    """A pattern of `SENDPOOL_BOUNCES_SNS_CERT_HOSTS`: DNS labels or `*`, with the last two labels literal
    (`sns.*.amazonaws.com`), so that no pattern matches every host of a top-level domain."""
    labels = pattern.lower().split(".")
    if not all(label == "*" or _HOST_LABEL.match(label) for label in labels):
        return False
    return "*" not in labels[-2:]


def host_matches(host: str, pattern: str) -> bool:
    """`*` stands for exactly one DNS label."""
    host_labels, pattern_labels = host.lower().split("."), pattern.lower().split(".")
    return len(host_labels) == len(pattern_labels) and all(
        wanted in ("*", label) and bool(_HOST_LABEL.match(label))
        for label, wanted in zip(host_labels, pattern_labels, strict=True)
    )


def url_refusal(url: str, field: str, allowed_hosts: Sequence[str]) -> str | None:
    """Why an SNS URL (`SigningCertURL`, `SubscribeURL`) is not fetched, or None when it may be."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return f"{field} is not a URL"
    if parts.scheme != "https":
        return f"{field} is not an https URL"
    if parts.username is not None or parts.password is not None:
        return f"{field} has credentials in it"
    if not any(host_matches(host, pattern) for pattern in allowed_hosts):
        return f"{field} names host {one_line(host, 255)!r}, which is not an SNS host (SENDPOOL_BOUNCES_SNS_CERT_HOSTS)"
    return None


def certificate_url_refusal(url: str, allowed_hosts: Sequence[str]) -> str | None:
    refusal = url_refusal(url, "SigningCertURL", allowed_hosts)
    if refusal is None and not urlsplit(url).path.endswith(".pem"):
        return "SigningCertURL does not name a .pem certificate"
    return refusal


def verify_signature(message: SnsMessage, certificate_pem: bytes, now: datetime) -> Refused | None:
    """Why the message's signature is refused, or None when the certificate's key signed it."""
    algorithm = _HASHES.get(message.fields.get("SignatureVersion", ""))
    if algorithm is None:
        return Refused("SignatureVersion is neither 1 nor 2")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        return Refused("the signing certificate is not a PEM certificate")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return Refused("the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return Refused("the signing certificate's key is not RSA")
    try:
        signature = base64.b64decode(message.fields["Signature"], validate=True)
        key.verify(signature, message.string_to_sign(), padding.PKCS1v15(), algorithm())
    except (binascii.Error, InvalidSignature):
        return Refused("the SNS signature does not verify with the signing certificate")
    return None


def topic_refusal(server: WebhookServer, message: SnsMessage) -> Refused | None:
    """Why the message's topic is refused: the server names its topics and this is not one of them."""
    topics = server.settings.get(TOPICS_SETTING) or []
    if topics and message.topic_arn not in topics:
        return Refused(f"topic {one_line(message.topic_arn, 256)!r} is not among the server's sns_topic_arns")
    return None


def class_of(notification: Mapping[str, Any]) -> tuple[FeedbackClass, str] | None:
    """The class of an SES notification and the rule that decided it; None for one that is no feedback."""
    kind = one_line(notification.get("notificationType") or notification.get("eventType"), 64)
    if kind == "Bounce":
        bounce = _object(notification, "bounce")
        bounce_type = one_line(bounce.get("bounceType"), 64)
        found = BOUNCE_TYPES.get(bounce_type)
        return found or FeedbackClass.UNKNOWN, f"ses.bounce.{bounce_type.lower() if found else 'other'}"
    if kind == "Complaint":
        feedback_type = one_line(_object(notification, "complaint").get("complaintFeedbackType"), 64)
        found = COMPLAINT_TYPES.get(feedback_type)
        return found or FeedbackClass.COMPLAINT, f"ses.complaint.{feedback_type or 'unspecified'}"
    return None  # IGNORED_TYPES, and any type SES adds later


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, dict) else {}


def _carried_message_id(mail: Mapping[str, Any]) -> Any:
    headers = mail.get("headers")
    if not isinstance(headers, list):
        return None
    for header in headers[:200]:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == MESSAGE_ID_HEADER:
            return header.get("value")
    return None


def feedback_of(server: WebhookServer, message: SnsMessage, raw: bytes) -> list[Feedback]:
    """The feedback in a verified `Notification` (`raw`: the whole SNS message, signature and all)."""
    notification = json_of(message.fields["Message"].encode(), "Message")
    if not isinstance(notification, dict):
        raise Malformed("Message", "must be an SES notification object")
    decided = class_of(notification)
    if decided is None:
        return []
    feedback_class, rule = decided
    if rule.startswith("ses.bounce"):
        section = _object(notification, "bounce")
        listed = section.get("bouncedRecipients")
        field = "Message.bounce.bouncedRecipients"
    else:
        section = _object(notification, "complaint")
        listed = section.get("complainedRecipients")
        field = "Message.complaint.complainedRecipients"
    if not isinstance(listed, list) or len(listed) > RECIPIENTS_MAX:
        raise Malformed(field, f"must be a list of at most {RECIPIENTS_MAX} recipients")
    bounced = rule.startswith("ses.bounce")
    recipients = tuple(
        RecipientReport(
            address=address_of(recipient.get("emailAddress")),
            status=one_line(recipient.get("status"), STATUS_MAX),
            action=one_line(recipient.get("action"), 32) or ("failed" if bounced else ""),
            diagnostic=one_line(recipient.get("diagnosticCode")),
            remote_mta=one_line(section.get("reportingMTA"), 255),
        )
        for recipient in listed
        if isinstance(recipient, dict)
    )
    mail = _object(notification, "mail")
    return [
        vendor_feedback(
            vendor=VENDOR,
            event=notification,
            raw=raw,
            feedback_class=feedback_class,
            rule=rule,
            recipients=recipients,
            server_id=server.server_id,
            message_id=message_id_of(_carried_message_id(mail)),
            vendor_message_id=identifier(mail.get("messageId")),
            occurred_at=time_of_iso(section.get("timestamp")),
            event_id=identifier(section.get("feedbackId")) or identifier(message.fields.get("MessageId")),
            feedback_type=one_line(section.get("complaintFeedbackType"), 64),
        )
    ]
