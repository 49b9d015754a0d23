"""Each vendor's check of a request: right, wrong, missing, expired or replayed credentials, and no key set."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.bounces.domain.webhooks import elasticemail, mailgun, sendgrid, ses, sparkpost
from services.bounces.domain.webhooks.common import NO_KEY, Refused, SeenTokens, WebhookServer
from tests.support.webhooks import (
    SendgridSigner,
    SnsSigner,
    basic_auth,
    mailgun_body,
    ses_bounce,
    sns_notification,
)

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "webhook-samples"
NOW = datetime.now(UTC).replace(microsecond=0)
TOLERANCE = 600


def server(**settings):
    return WebhookServer(uuid.uuid4(), "any", settings)


def lower(headers):
    return {name.lower(): value for name, value in headers.items()}


# --- SendGrid ---------------------------------------------------------------------------------

SIGNER = SendgridSigner()
SENDGRID = server(webhook_verification_key=SIGNER.public_key)
BODY = b'[{"event":"bounce","email":"a@example.com"}]'


def test_sendgrid_right_signature():
    headers = lower(SIGNER.headers(BODY, int(NOW.timestamp())))
    assert sendgrid.verify(SENDGRID, headers, BODY, NOW, TOLERANCE) is None


def test_sendgrid_signature_of_another_body_or_timestamp_or_key():
    stamp = int(NOW.timestamp())
    headers = lower(SIGNER.headers(BODY, stamp))
    tampered = sendgrid.verify(SENDGRID, headers, BODY.replace(b"bounce", b"open!!"), NOW, TOLERANCE)
    assert tampered == Refused("the signature does not verify with the server's webhook_verification_key")
    moved = {**headers, sendgrid.TIMESTAMP_HEADER: str(stamp - 1)}
    assert sendgrid.verify(SENDGRID, moved, BODY, NOW, TOLERANCE) is not None
    other_key = lower(SendgridSigner().headers(BODY, stamp))
    assert sendgrid.verify(SENDGRID, other_key, BODY, NOW, TOLERANCE) is not None


def test_sendgrid_missing_signature_is_a_401_kind_of_refusal():
    refused = sendgrid.verify(SENDGRID, {}, BODY, NOW, TOLERANCE)
    assert refused is not None and refused.missing


@pytest.mark.parametrize("age", [TOLERANCE + 1, -(TOLERANCE + 1)])
def test_sendgrid_timestamp_out_of_tolerance_is_refused_though_signed(age):
    headers = lower(SIGNER.headers(BODY, int(NOW.timestamp()) - age))
    refused = sendgrid.verify(SENDGRID, headers, BODY, NOW, TOLERANCE)
    assert refused is not None and "replayed" in refused.reason and not refused.missing


@pytest.mark.parametrize("signature", ["not base64!", base64.b64encode(b"garbage").decode()])
def test_sendgrid_garbage_signature_is_refused(signature):
    headers = {sendgrid.SIGNATURE_HEADER: signature, sendgrid.TIMESTAMP_HEADER: str(int(NOW.timestamp()))}
    assert sendgrid.verify(SENDGRID, headers, BODY, NOW, TOLERANCE) is not None


def test_sendgrid_without_a_key_refuses_everything():
    headers = lower(SIGNER.headers(BODY, int(NOW.timestamp())))
    assert sendgrid.verify(server(), headers, BODY, NOW, TOLERANCE) is NO_KEY


# --- Mailgun ----------------------------------------------------------------------------------

KEY = "key-0123456789abcdef"
MAILGUN = server(webhook_signing_key=KEY)
EVENT = {"event": "failed", "severity": "permanent", "recipient": "a@example.com"}


def test_mailgun_right_signature_and_then_its_replay():
    seen = SeenTokens(TOLERANCE)
    body = mailgun_body(KEY, EVENT, timestamp=int(NOW.timestamp()), token="t" * 50)
    assert mailgun.verify(MAILGUN, body, NOW, TOLERANCE, seen) is None
    assert mailgun.verify(MAILGUN, body, NOW, TOLERANCE, seen) is None  # not taken yet: the vendor may retry
    seen.remember(mailgun.token_of(body), NOW)
    refused = mailgun.verify(MAILGUN, body, NOW, TOLERANCE, seen)
    assert refused is not None and "used before" in refused.reason


def test_mailgun_wrong_key_or_forged_signature():
    seen = SeenTokens(TOLERANCE)
    body = mailgun_body("another-key-entirely", EVENT, timestamp=int(NOW.timestamp()))
    assert mailgun.verify(MAILGUN, body, NOW, TOLERANCE, seen) is not None
    document = json.loads(mailgun_body(KEY, EVENT, timestamp=int(NOW.timestamp())))
    document["signature"]["token"] = "swapped-token"
    assert mailgun.verify(MAILGUN, json.dumps(document).encode(), NOW, TOLERANCE, seen) is not None


@pytest.mark.parametrize(
    "body", [b"{}", b"not json", b'{"signature": {"timestamp": "1", "token": "x"}}', b'{"signature": [1]}']
)
def test_mailgun_missing_signature(body):
    refused = mailgun.verify(MAILGUN, body, NOW, TOLERANCE, SeenTokens(TOLERANCE))
    assert refused is not None and refused.missing


def test_mailgun_expired_timestamp():
    body = mailgun_body(KEY, EVENT, timestamp=int(NOW.timestamp()) - TOLERANCE - 5)
    refused = mailgun.verify(MAILGUN, body, NOW, TOLERANCE, SeenTokens(TOLERANCE))
    assert refused is not None and "replayed" in refused.reason


def test_mailgun_without_a_key():
    body = mailgun_body(KEY, EVENT, timestamp=int(NOW.timestamp()))
    assert mailgun.verify(server(), body, NOW, TOLERANCE, SeenTokens(TOLERANCE)) is NO_KEY


def test_seen_tokens_forget_what_is_past_the_tolerance_and_stay_bounded():
    seen = SeenTokens(60, capacity=3)
    for index in range(5):
        seen.remember(f"t{index}", NOW)
    assert [token in seen for token in ("t0", "t1", "t2", "t3", "t4")] == [False, False, True, True, True]
    seen.remember("late", NOW + timedelta(seconds=61))
    assert "t4" not in seen and "late" in seen


# --- SparkPost --------------------------------------------------------------------------------

TOKEN = "sparkpost-webhook-secret-1"
SPARKPOST = server(webhook_auth_token=TOKEN)


@pytest.mark.parametrize(
    "headers",
    [basic_auth(TOKEN), basic_auth(TOKEN, user="any-user"), {"X-MessageSystems-Webhook-Token": TOKEN}],
)
def test_sparkpost_right_credentials(headers):
    assert sparkpost.verify(SPARKPOST, lower(headers)) is None


@pytest.mark.parametrize(
    "headers",
    [
        basic_auth("wrong-password-of-some-length"),
        basic_auth(TOKEN[:-1]),
        {"X-MessageSystems-Webhook-Token": TOKEN + "x"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},  # no user:password
    ],
)
def test_sparkpost_wrong_credentials(headers):
    refused = sparkpost.verify(SPARKPOST, lower(headers))
    assert refused is not None and not refused.missing


@pytest.mark.parametrize("headers", [{}, {"Authorization": f"Bearer {TOKEN}"}])
def test_sparkpost_missing_credentials(headers):
    refused = sparkpost.verify(SPARKPOST, lower(headers))
    assert refused is not None and refused.missing


def test_sparkpost_without_a_token():
    assert sparkpost.verify(server(), lower(basic_auth(TOKEN))) is NO_KEY


# --- Elastic Email ----------------------------------------------------------------------------

ELASTIC_TOKEN = "elastic-webhook-token-1"
ELASTIC = server(webhook_token=ELASTIC_TOKEN)


def test_elasticemail_token():
    assert elasticemail.verify(ELASTIC, {"token": ELASTIC_TOKEN}) is None
    wrong = elasticemail.verify(ELASTIC, {"token": ELASTIC_TOKEN.upper()})
    assert wrong is not None and not wrong.missing
    missing = elasticemail.verify(ELASTIC, {"status": "Error"})
    assert missing is not None and missing.missing
    assert elasticemail.verify(server(), {"token": ELASTIC_TOKEN}) is NO_KEY


# --- SNS --------------------------------------------------------------------------------------

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
SNS = SnsSigner()


def signed(version="1", **changes):
    message = {**sns_notification(ses_bounce("a@example.com"), cert_url=CERT_URL), **changes}
    return ses.sns_message_of(json.dumps(SNS.sign(message, version=version)).encode())


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signature_versions_1_and_2(version):
    message = signed(version)
    assert isinstance(message, ses.SnsMessage)
    assert ses.verify_signature(message, SNS.certificate_pem, NOW) is None


@pytest.mark.parametrize("field", ["Message", "TopicArn", "Timestamp", "MessageId", "Type"])
def test_sns_any_signed_field_changed_breaks_the_signature(field):
    message = signed()
    assert isinstance(message, ses.SnsMessage)
    changed = {
        **message.fields,
        field: message.fields[field] + "x" if field != "Type" else "SubscriptionConfirmation",
    }
    if field == "Type":
        changed |= {"SubscribeURL": CERT_URL, "Token": "t"}
    refused = ses.verify_signature(ses.SnsMessage(changed), SNS.certificate_pem, NOW)
    assert refused is not None


def test_sns_signed_by_another_certificate_or_with_an_expired_one_or_an_unknown_version():
    message = signed()
    assert isinstance(message, ses.SnsMessage)
    assert ses.verify_signature(message, SnsSigner().certificate_pem, NOW) is not None
    assert ses.verify_signature(message, b"-----BEGIN CERTIFICATE-----\nxx\n", NOW) is not None
    expired = SnsSigner(expired=True)
    stale = ses.sns_message_of(json.dumps(expired.sign(sns_notification({}, cert_url=CERT_URL))).encode())
    assert isinstance(stale, ses.SnsMessage)
    refused = ses.verify_signature(stale, expired.certificate_pem, NOW)
    assert refused == Refused("the signing certificate is not valid now")
    version_3 = ses.SnsMessage({**message.fields, "SignatureVersion": "3"})
    assert ses.verify_signature(version_3, SNS.certificate_pem, NOW) is not None


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"[]",
        b"not json",
        json.dumps(ses_bounce("a@example.com")).encode(),  # raw message delivery: no envelope, no signature
        json.dumps({**sns_notification({}, cert_url=CERT_URL)}).encode(),  # an envelope without a signature
    ],
)
def test_sns_unsigned_bodies_are_missing_their_credentials(body):
    refused = ses.sns_message_of(body)
    assert isinstance(refused, Refused) and refused.missing


def test_the_sample_sns_envelope_is_read_and_its_certificate_url_allowed_by_default():
    message = ses.sns_message_of((SAMPLES / "sisimai-json-amazonses-02.json").read_bytes())
    assert isinstance(message, ses.SnsMessage)
    assert message.string_to_sign().startswith(b"Message\n{")
    assert b"\nSubject\n" not in message.string_to_sign()
    assert ses.certificate_url_refusal(message.signing_cert_url, ["sns.*.amazonaws.com"]) is None


DEFAULT_HOSTS = ["sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"]


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
        "https://SNS.EU-WEST-1.AMAZONAWS.COM/x.pem",
    ],
)
def test_sns_certificate_urls_allowed(url):
    assert ses.certificate_url_refusal(url, DEFAULT_HOSTS) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",  # not https
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.evil.example.amazonaws.com/x.pem",  # * is one label
        "https://snsXus-east-1.amazonaws.com/x.pem",
        "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/not-a-certificate",
        "https://127.0.0.1/x.pem",
        "https://sns.us-east-1.amazonaws.com:99999/x.pem",
        "file:///etc/passwd",
        "",
    ],
)
def test_sns_certificate_urls_refused(url):
    assert ses.certificate_url_refusal(url, DEFAULT_HOSTS) is not None


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("sns.*.amazonaws.com", True),
        ("localhost", True),
        ("*.com", False),
        ("sns.*.*", False),
        ("*", False),
        ("sns..amazonaws.com", False),
        ("sns.eu-west-1.amazonaws.com", True),
    ],
)
def test_host_patterns(pattern, valid):
    assert ses.valid_host_pattern(pattern) is valid


def test_topics_named_by_the_server_are_the_only_ones_taken():
    message = signed()
    assert isinstance(message, ses.SnsMessage)
    anything = server()
    assert ses.topic_refusal(anything, message) is None
    mine = server(sns_topic_arns=[message.topic_arn])
    assert ses.topic_refusal(mine, message) is None
    other = server(sns_topic_arns=["arn:aws:sns:eu-west-1:999999999999:other"])
    assert ses.topic_refusal(other, message) is not None
