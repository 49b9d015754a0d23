"""`ReceiveWebhook` with fakes at its ports: which server, refusals never processed, SNS's steps, replays."""

import json
import logging
import uuid
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from services.bounces.app.ports import SnsFetchFailed, WebhookServersUnavailable
from services.bounces.app.webhooks import (
    Invalid,
    ReceiveWebhook,
    Taken,
    Unavailable,
    UnknownServer,
    WebhookRequest,
)
from services.bounces.domain.webhooks.common import Refused, WebhookServer
from shared.contracts import FeedbackClass
from shared.telemetry import RedactQuerySecrets
from tests.support.webhooks import (
    SendgridSigner,
    SnsSigner,
    basic_auth,
    mailgun_body,
    ses_bounce,
    sns_notification,
    sns_subscription_confirmation,
)

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem"
SUBSCRIBE_URL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
MAILGUN_KEY = "mailgun-signing-key"


class Servers:
    def __init__(self, *servers: WebhookServer, down: bool = False) -> None:
        self.servers = {server.server_id: server for server in servers}
        self.down = down

    async def get(self, server_id):
        if self.down:
            raise WebhookServersUnavailable("no answer")
        return self.servers.get(server_id)


class Sns:
    def __init__(self, certificate: bytes = b"", *, fails: bool = False) -> None:
        self._certificate = certificate
        self.fails = fails
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    async def certificate(self, url):
        self.fetched.append(url)
        if self.fails:
            raise SnsFetchFailed("HTTP 500")
        return self._certificate

    async def confirm_subscription(self, url):
        if self.fails:
            raise SnsFetchFailed("HTTP 500")
        self.confirmed.append(url)


class Intake:
    def __init__(self, fails: bool = False) -> None:
        self.taken = []
        self.fails = fails

    async def take(self, feedback):
        if self.fails:
            raise ConnectionError("database down")
        self.taken.extend(feedback)


SIGNER = SendgridSigner()
SNS_SIGNER = SnsSigner()
SENDGRID = WebhookServer(uuid.uuid4(), "sendgrid", {"webhook_verification_key": SIGNER.public_key})
MAILGUN = WebhookServer(uuid.uuid4(), "mailgun", {"webhook_signing_key": MAILGUN_KEY})
SPARKPOST = WebhookServer(uuid.uuid4(), "sparkpost", {"webhook_auth_token": "sparkpost-token-0123"})
ELASTIC = WebhookServer(uuid.uuid4(), "elasticemail", {"webhook_token": "elastic-token-0123"})
SES = WebhookServer(uuid.uuid4(), "ses", {})
SES_WITH_TOPIC = WebhookServer(
    uuid.uuid4(), "ses", {"sns_topic_arns": ["arn:aws:sns:eu-west-1:123456789012:mine"]}
)


def receiver(servers=None, sns=None) -> ReceiveWebhook:
    return ReceiveWebhook(
        servers or Servers(SENDGRID, MAILGUN, SPARKPOST, ELASTIC, SES, SES_WITH_TOPIC),
        sns or Sns(SNS_SIGNER.certificate_pem),
        sns_cert_hosts=["sns.*.amazonaws.com"],
        tolerance_seconds=600,
        clock=lambda: datetime.now(UTC),
    )


def request(
    server: WebhookServer, body: bytes = b"", *, vendor=None, headers=None, query=None, content_type=""
):
    return WebhookRequest(
        vendor=vendor or server.vendor,
        server_id=server.server_id,
        body=body,
        headers={name.lower(): value for name, value in (headers or {}).items()},
        query=query or {},
        content_type=content_type,
        remote="203.0.113.9",
    )


SENDGRID_BODY = json.dumps([{"event": "bounce", "type": "bounce", "email": "a@example.com"}]).encode()


async def test_a_signed_request_is_taken():
    intake = Intake()
    result = await receiver()(request(SENDGRID, SENDGRID_BODY, headers=SIGNER.headers(SENDGRID_BODY)), intake)
    assert result == Taken(1)
    assert [f.classification.feedback_class for f in intake.taken] == [FeedbackClass.HARD]
    assert intake.taken[0].server_id == SENDGRID.server_id


async def test_a_refused_request_is_logged_and_never_processed():
    intake = Intake()
    with capture_logs() as logs:
        result = await receiver()(
            request(SENDGRID, SENDGRID_BODY, headers=SendgridSigner().headers(SENDGRID_BODY)), intake
        )
    assert isinstance(result, Refused) and not result.missing
    assert intake.taken == []
    [logged] = [entry for entry in logs if entry["event"] == "webhook refused"]
    assert (logged["vendor"], logged["server_id"], logged["remote"]) == (
        "sendgrid",
        str(SENDGRID.server_id),
        "203.0.113.9",
    )


async def test_unknown_vendor_unknown_server_and_another_vendors_server_all_look_the_same():
    intake = Intake()
    assert isinstance(await receiver()(request(SENDGRID, vendor="postmark"), intake), UnknownServer)
    stranger = WebhookServer(uuid.uuid4(), "sendgrid", {})
    unknown = await receiver()(request(stranger, SENDGRID_BODY), intake)
    # SendGrid's signature on a request to the Mailgun server's URL: the server is not SendGrid's.
    mismatch = await receiver()(
        request(MAILGUN, SENDGRID_BODY, vendor="sendgrid", headers=SIGNER.headers(SENDGRID_BODY)), intake
    )
    assert unknown == UnknownServer(f"no sendgrid server {stranger.server_id}")
    assert mismatch == UnknownServer(f"no sendgrid server {MAILGUN.server_id}")
    assert intake.taken == []


async def test_the_catalog_unreachable_asks_the_vendor_to_retry():
    result = await receiver(servers=Servers(down=True))(request(SENDGRID, SENDGRID_BODY), Intake())
    assert isinstance(result, Unavailable)


async def test_a_verified_but_malformed_body_names_the_field():
    body = json.dumps([{"event": "bounce"}, "not an event"]).encode()
    result = await receiver()(request(SENDGRID, body, headers=SIGNER.headers(body)), Intake())
    assert result == Invalid("[1]", "must be an event object")


async def test_a_mailgun_request_failing_in_the_intake_is_taken_when_mailgun_sends_it_again():
    body = mailgun_body(
        MAILGUN_KEY, {"event": "failed", "severity": "permanent", "recipient": "a@example.com"}
    )
    receive = receiver()
    with pytest.raises(ConnectionError):
        await receive(request(MAILGUN, body), Intake(fails=True))
    intake = Intake()
    assert await receive(request(MAILGUN, body), intake) == Taken(1)
    replayed = await receive(request(MAILGUN, body), intake)
    assert isinstance(replayed, Refused) and "used before" in replayed.reason
    assert len(intake.taken) == 1


async def test_sparkpost_test_batch_and_elastic_email_notifications():
    intake = Intake()
    batch = await receiver()(
        request(SPARKPOST, b'[{"msys": {}}]', headers=basic_auth("sparkpost-token-0123")), intake
    )
    assert batch == Taken(0)
    query = {"token": "elastic-token-0123", "status": "Error", "category": "NoMailbox", "to": "x@example.com"}
    assert await receiver()(request(ELASTIC, query=query), intake) == Taken(1)
    form = b"status=AbuseReport&to=y%40example.com"
    assert await receiver()(request(ELASTIC, form, query={"token": "elastic-token-0123"}), intake) == Taken(1)
    posted = json.dumps({"status": "Unsubscribed", "to": "z@example.com"}).encode()
    assert await receiver()(
        request(ELASTIC, posted, query={"token": "elastic-token-0123"}, content_type="application/json"),
        intake,
    ) == Taken(1)
    assert [f.classification.feedback_class for f in intake.taken] == [
        FeedbackClass.HARD,
        FeedbackClass.COMPLAINT,
        FeedbackClass.UNSUBSCRIBE,
    ]


def sns_body(message: dict[str, str], signer: SnsSigner = SNS_SIGNER) -> bytes:
    return json.dumps(signer.sign(message)).encode()


async def test_ses_bounce_through_sns():
    intake = Intake()
    message_id = uuid.uuid4()
    body = sns_body(sns_notification(ses_bounce("a@example.com", message_id=message_id), cert_url=CERT_URL))
    sns = Sns(SNS_SIGNER.certificate_pem)
    assert await receiver(sns=sns)(request(SES, body), intake) == Taken(1)
    assert sns.fetched == [CERT_URL]
    [feedback] = intake.taken
    assert (feedback.message_id, feedback.raw, feedback.classification.feedback_class) == (
        message_id,
        body,
        FeedbackClass.HARD,
    )


async def test_ses_certificate_on_a_foreign_host_is_never_fetched():
    sns = Sns(SNS_SIGNER.certificate_pem)
    evil = "https://attacker.example/SimpleNotificationService-1.pem"
    body = sns_body(sns_notification(ses_bounce("a@example.com"), cert_url=evil))
    result = await receiver(sns=sns)(request(SES, body), Intake())
    assert isinstance(result, Refused) and "not an SNS host" in result.reason
    assert sns.fetched == []


async def test_ses_message_signed_by_someone_else_is_refused():
    intake = Intake()
    body = sns_body(sns_notification(ses_bounce("a@example.com"), cert_url=CERT_URL), SnsSigner())
    result = await receiver()(request(SES, body), intake)
    assert isinstance(result, Refused) and intake.taken == []


async def test_ses_topic_not_named_by_the_server_is_refused_before_fetching():
    sns = Sns(SNS_SIGNER.certificate_pem)
    body = sns_body(sns_notification(ses_bounce("a@example.com"), cert_url=CERT_URL))
    result = await receiver(sns=sns)(request(SES_WITH_TOPIC, body), Intake())
    assert isinstance(result, Refused) and "sns_topic_arns" in result.reason
    assert sns.fetched == []


async def test_ses_certificate_not_fetched_asks_sns_to_retry():
    body = sns_body(sns_notification(ses_bounce("a@example.com"), cert_url=CERT_URL))
    assert isinstance(await receiver(sns=Sns(fails=True))(request(SES, body), Intake()), Unavailable)


async def test_ses_subscription_is_confirmed_once_verified_and_only_on_an_sns_host():
    sns = Sns(SNS_SIGNER.certificate_pem)
    body = sns_body(sns_subscription_confirmation(cert_url=CERT_URL, subscribe_url=SUBSCRIBE_URL))
    assert await receiver(sns=sns)(request(SES, body), Intake()) == Taken(0, "subscription confirmed")
    assert sns.confirmed == [SUBSCRIBE_URL]

    elsewhere = sns_body(
        sns_subscription_confirmation(
            cert_url=CERT_URL, subscribe_url="https://169.254.169.254/latest/meta-data"
        )
    )
    result = await receiver(sns=sns)(request(SES, elsewhere), Intake())
    assert isinstance(result, Refused) and sns.confirmed == [SUBSCRIBE_URL]

    forged = sns_body(
        sns_subscription_confirmation(cert_url=CERT_URL, subscribe_url=SUBSCRIBE_URL), SnsSigner()
    )
    assert isinstance(await receiver(sns=sns)(request(SES, forged), Intake()), Refused)
    assert sns.confirmed == [SUBSCRIBE_URL]


async def test_ses_delivery_notifications_are_taken_as_nothing():
    intake = Intake()
    delivery = {"notificationType": "Delivery", "mail": {"messageId": "m"}, "delivery": {}}
    body = sns_body(sns_notification(delivery, cert_url=CERT_URL))
    assert await receiver()(request(SES, body), intake) == Taken(0)
    assert intake.taken == []


def test_the_access_log_masks_a_token_in_the_query():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:1",
            "GET",
            "/webhooks/elasticemail/x?status=Error&token=s3cret-value&to=a%40b",
            "1.1",
            200,
        ),
        None,
    )
    assert RedactQuerySecrets().filter(record)
    assert "s3cret-value" not in record.getMessage() and "token=***&to=a%40b" in record.getMessage()
