"""Signing vendor webhooks as the vendors do, for tests: SendGrid's ECDSA, Mailgun's HMAC, SNS's RSA.

`SnsSigner` makes its own certificate (RSA 2048, self-signed) and signs SNS messages as SNS does,
so a test serves `certificate_pem` at the message's `SigningCertURL` (`SnsCertificateServer`, an
https fake with the test CA's certificate, which also records subscription confirmations).
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from tests.support.wsgi import CountingWsgiServer


class SendgridSigner:
    """A signed event webhook's key pair: `public_key` is what SendGrid shows (base64 DER)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_key(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "Content-Type": "application/json",
        }


def mailgun_body(
    signing_key: str, event_data: dict[str, Any], *, timestamp: int | None = None, token: str | None = None
) -> bytes:
    """A Mailgun webhook's JSON body, signed with `signing_key`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    digest = hmac.new(signing_key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": stamp, "token": token, "signature": digest}, "event-data": event_data}
    ).encode()


def basic_auth(password: str, user: str = "sparkpost") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _CONFIRMATION_FIELDS,
}


class SnsSigner:
    """Signs SNS messages with a certificate of its own, as SNS signs with its."""

    def __init__(self, *, valid_days: int = 30, expired: bool = False) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        start, end = (
            (now - timedelta(days=60), now - timedelta(days=1))
            if expired
            else (
                now - timedelta(days=1),
                now + timedelta(days=valid_days),
            )
        )
        self.certificate_pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(self._key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )

    def sign(self, message: dict[str, str], *, version: str = "1") -> dict[str, str]:
        """`message` with `SignatureVersion` and `Signature` (its `SigningCertURL` must be set)."""
        signed = "".join(f"{name}\n{message[name]}\n" for name in _SIGNED[message["Type"]] if name in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self._key.sign(signed.encode(), padding.PKCS1v15(), algorithm)
        return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}


def sns_notification(
    ses_notification: dict[str, Any],
    *,
    cert_url: str,
    topic_arn: str = "arn:aws:sns:eu-west-1:123456789012:ses-feedback",
) -> dict[str, str]:
    """An unsigned SNS `Notification` carrying an SES notification."""
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": json.dumps(ses_notification),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": cert_url.rsplit("/", 1)[0] + "/?Action=Unsubscribe",
    }


def sns_subscription_confirmation(
    *, cert_url: str, subscribe_url: str, topic_arn: str = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
) -> dict[str, str]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": secrets.token_hex(32),
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
        "SubscribeURL": subscribe_url,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SigningCertURL": cert_url,
    }


def ses_bounce(
    address: str, *, bounce_type: str = "Permanent", message_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """An SES `Bounce` notification for one recipient, with our message id among the headers if given."""
    headers = [{"name": "X-Sendpool-Message-Id", "value": str(message_id)}] if message_id else []
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-01-02T03:04:05.000Z",
            "feedbackId": f"feedback-{uuid.uuid4()}",
            "reportingMTA": "dsn; a1-2.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": {"messageId": f"ses-{uuid.uuid4()}", "destination": [address], "headers": headers},
    }


@dataclass
class SnsCertificateServer:
    """An https stand-in for SNS: serves signing certificates at `/<name>.pem` and takes subscription
    confirmations at `/confirm` (recorded in `confirmations`). Its URLs use `localhost`, for
    SENDPOOL_BOUNCES_SNS_CERT_HOSTS=localhost."""

    certificates: dict[str, bytes] = field(default_factory=dict)
    confirmations: list[str] = field(default_factory=list)
    fetches: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = CountingWsgiServer(self._wsgi)

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self._server.port}"

    def serve(self, signer: SnsSigner, name: str = "SimpleNotificationService-test") -> str:
        """The `SigningCertURL` at which `signer`'s certificate is served."""
        self.certificates[f"/{name}.pem"] = signer.certificate_pem
        return f"{self.base_url}/{name}.pem"

    def subscribe_url(self, token: str = "subscription-1") -> str:
        return f"{self.base_url}/confirm?Action=ConfirmSubscription&Token={token}"

    def __enter__(self) -> "SnsCertificateServer":
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _wsgi(self, environ: dict, start_response):
        request = Request(environ)
        with self._lock:
            if request.path == "/confirm":
                self.confirmations.append(request.args.get("Token", ""))
                response = Response("<ConfirmSubscriptionResponse/>", content_type="text/xml")
            elif request.path == "/redirect.pem":
                response = Response(
                    status=302, headers={"Location": f"{self.base_url}/confirm?Token=redirected"}
                )
            elif request.path in self.certificates:
                self.fetches.append(request.path)
                response = Response(self.certificates[request.path], content_type="application/x-pem-file")
            else:
                response = Response("not found", status=404)
        return response(environ, start_response)
