"""Vendor webhooks end to end: the bounces service and the catalog as real processes (database and vhost
of their own), servers with their webhook keys created through the catalog's API, and correctly and
wrongly signed requests for every vendor posted to the bounces service's HTTP API. SNS's signing
certificate and subscription confirmation are served by an https fake (the test CA's certificate).

A correctly signed event about a sent message suppresses its recipient; a wrongly signed, unsigned,
expired or replayed one is refused and leaves nothing behind."""

import json
import time
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import httpx
import pytest

from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from shared.db import Database
from tests.integration.bounces.feedback_support import feedback_rows, remember, sent_event, suppressions_of
from tests.support.infra import free_port, fresh_test_database, fresh_test_vhost
from tests.support.processes import ServiceProcess
from tests.support.webhooks import (
    SendgridSigner,
    SnsCertificateServer,
    SnsSigner,
    basic_auth,
    mailgun_body,
    ses_bounce,
    sns_notification,
    sns_subscription_confirmation,
)

OPERATOR_TOKEN = "test-operator-token"  # tests/conftest.py: service_env
MAILGUN_KEY = "mailgun-signing-key-0123456789"
SPARKPOST_TOKEN = "sparkpost-webhook-token-0123"
ELASTIC_TOKEN = "elastic-webhook-token-01234"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
SENDGRID = SendgridSigner()
SNS = SnsSigner()


@pytest.fixture(scope="module")
def stack_env(service_env):
    """A database and a vhost of this module's own: no other test's catalog takes its requests."""
    with (
        fresh_test_database("sendpool_webhooks") as database_url,
        fresh_test_vhost("sendpool-webhooks") as amqp,
    ):
        yield {
            **service_env,
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp,
            "SENDPOOL_BOUNCES_SMTP_PORT": "0",
            # The https fake's URLs name localhost (service_env allows it as the SNS host).
            "SENDPOOL_BOUNCES_SNS_CERT_HOSTS": "localhost",
            "SENDPOOL_HTTP_MAX_BODY_BYTES": str(256 * 1024),
        }


@pytest.fixture(scope="module")
def services(stack_env, logs_dir, sns_fake):
    # The SNS fake outlives the services: stopped first, it would wait out the TLS shutdown (30 s) of
    # the connections the bounces service keeps open to it.
    catalog = ServiceProcess("catalog", free_port(), stack_env, logs_dir / "webhooks-catalog.log").start()
    bounces = ServiceProcess("bounces", free_port(), stack_env, logs_dir / "webhooks-bounces.log").start()
    yield catalog, bounces
    bounces.stop()
    catalog.stop()


@pytest.fixture(scope="module")
def sns_fake():
    with SnsCertificateServer() as fake:
        yield fake


@pytest.fixture(scope="module")
async def servers(services) -> dict[str, str]:
    """One pool server per vendor with its webhook key, and a SendGrid one without: name → id."""
    catalog, _ = services
    settings = {
        "sendgrid": ("sendgrid_api", {"api_key": "SG.x", "webhook_verification_key": SENDGRID.public_key}),
        "mailgun": (
            "mailgun_api",
            {"api_key": "key-x", "domain": "mg.example.com", "webhook_signing_key": MAILGUN_KEY},
        ),
        "sparkpost": ("sparkpost_api", {"api_key": "x", "webhook_auth_token": SPARKPOST_TOKEN}),
        "elasticemail": (
            "elasticemail_smtp",
            {"username": "u@example.com", "password": "p", "webhook_token": ELASTIC_TOKEN},
        ),
        "ses": (
            "ses_api",
            {
                "access_key_id": "AKIAEXAMPLE",
                "secret_access_key": "s",
                "region": "eu-west-1",
                "sns_topic_arns": [TOPIC],
            },
        ),
        "sendgrid-keyless": ("sendgrid_api", {"api_key": "SG.y"}),
    }
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    ids = {}
    async with httpx.AsyncClient(base_url=catalog.url, headers=headers, timeout=15) as api:
        for name, (server_type, values) in settings.items():
            created = await api.post(
                "/servers",
                json={"name": f"{name}-{uuid4().hex[:6]}", "type": server_type, "settings": values},
            )
            assert created.status_code == 201, created.text
            # The secret keys are write-only: never shown back.
            assert not {"webhook_signing_key", "webhook_auth_token", "webhook_token"} & set(
                created.json()["settings"]
            )
            ids[name] = created.json()["id"]
    return ids


@pytest.fixture(scope="module")
async def database(stack_env, services) -> AsyncIterator[Database]:
    async with Database(
        stack_env["SENDPOOL_DATABASE_URL"], SCHEMA, MIGRATIONS, pool_size=2, wait_seconds=30
    ) as db:
        yield db


@pytest.fixture
async def bounces(services) -> AsyncIterator[httpx.AsyncClient]:
    _, process = services
    async with httpx.AsyncClient(base_url=process.url, timeout=15) as client:
        yield client


async def sent_through(database: Database, server_id: str, recipient: str | None = None):
    [sent] = await remember(database, sent_event(recipient, server_id=UUID(server_id)))
    return sent


async def assert_suppressed(database, sent) -> None:
    suppressed = await suppressions_of(database, sent.tenant_id)
    assert sent.recipient.lower() in suppressed, suppressed
    [row] = await feedback_rows(database, message_id=sent.message_id)
    assert row["tenant_id"] == sent.tenant_id


async def assert_untouched(database, sent) -> None:
    assert await suppressions_of(database, sent.tenant_id) == {}
    assert await feedback_rows(database, claimed_message_id=sent.message_id) == []


# --- SendGrid ---------------------------------------------------------------------------------


def sendgrid_events(sent, event="bounce", **fields) -> bytes:
    return json.dumps(
        [
            {
                "event": event,
                "type": "bounce",
                "email": sent.recipient,
                "timestamp": int(time.time()),
                "sg_event_id": uuid4().hex,
                "sg_message_id": "x.y",
                "sendpool_message_id": str(sent.message_id),
                "status": "5.1.1",
                "reason": "550 5.1.1 no such user",
                **fields,
            }
        ]
    ).encode()


async def test_sendgrid_signed_bounce_suppresses_and_copies_act_once(bounces, servers, database):
    sent = await sent_through(database, servers["sendgrid"])
    body = sendgrid_events(sent)
    url = f"/webhooks/sendgrid/{servers['sendgrid']}"

    answer = await bounces.post(url, content=body, headers=SENDGRID.headers(body))
    again = await bounces.post(url, content=body, headers=SENDGRID.headers(body))  # SendGrid retrying

    assert (answer.status_code, answer.json()) == (200, {"taken": 1}), answer.text
    assert again.status_code == 200
    await assert_suppressed(database, sent)
    [row] = await feedback_rows(database, message_id=sent.message_id)
    assert (row["source"], row["class"], row["rule"]) == ("sendgrid", "hard", "sendgrid.bounce.bounce")


async def test_sendgrid_wrongly_signed_unsigned_expired_or_tampered_requests_are_refused(
    bounces, servers, database
):
    sent = await sent_through(database, servers["sendgrid"])
    body = sendgrid_events(sent)
    url = f"/webhooks/sendgrid/{servers['sendgrid']}"

    other_key = await bounces.post(url, content=body, headers=SendgridSigner().headers(body))
    unsigned = await bounces.post(url, content=body, headers={"Content-Type": "application/json"})
    expired = await bounces.post(url, content=body, headers=SENDGRID.headers(body, int(time.time()) - 3600))
    tampered = await bounces.post(
        url, content=body.replace(b"bounce", b"spamreport", 1), headers=SENDGRID.headers(body)
    )

    assert [r.status_code for r in (other_key, unsigned, expired, tampered)] == [403, 401, 403, 403]
    assert "signature does not verify" in other_key.json()["detail"]
    await assert_untouched(database, sent)


async def test_a_server_without_its_key_refuses_webhooks(bounces, servers, database):
    sent = await sent_through(database, servers["sendgrid-keyless"])
    body = sendgrid_events(sent)
    answer = await bounces.post(
        f"/webhooks/sendgrid/{servers['sendgrid-keyless']}", content=body, headers=SENDGRID.headers(body)
    )
    assert (answer.status_code, answer.json()["detail"]) == (403, "no webhook key configured for this server")
    await assert_untouched(database, sent)


async def test_unknown_servers_and_another_vendors_server_are_not_found(bounces, servers):
    body = b"[]"
    for url in (
        f"/webhooks/sendgrid/{uuid4()}",
        f"/webhooks/sendgrid/{servers['mailgun']}",  # a Mailgun server: SendGrid's requests are not its
        f"/webhooks/postmark/{servers['sendgrid']}",
        "/webhooks/sendgrid/not-a-server-id",
    ):
        answer = await bounces.post(url, content=body, headers=SENDGRID.headers(body))
        assert answer.status_code == 404, (url, answer.text)


async def test_signed_but_malformed_bodies_name_the_field_and_oversized_ones_are_cut(bounces, servers):
    url = f"/webhooks/sendgrid/{servers['sendgrid']}"
    body = b'[{"event": "bounce"}, 7]'
    malformed = await bounces.post(url, content=body, headers=SENDGRID.headers(body))
    assert (malformed.status_code, malformed.json()["field"]) == (400, "[1]")
    huge = b"[" + b'{"event":"open"},' * 20_000 + b"{}]"
    assert (await bounces.post(url, content=huge, headers=SENDGRID.headers(huge))).status_code == 413


# --- Mailgun ----------------------------------------------------------------------------------


def mailgun_event(sent, **fields) -> dict:
    return {
        "id": uuid4().hex,
        "event": "failed",
        "severity": "permanent",
        "recipient": sent.recipient,
        "timestamp": time.time(),
        "user-variables": {"sendpool_message_id": str(sent.message_id)},
        "delivery-status": {"code": 550, "message": "5.1.1 mailbox unknown"},
        **fields,
    }


async def test_mailgun_signed_failure_suppresses_and_its_replay_is_refused(bounces, servers, database):
    sent = await sent_through(database, servers["mailgun"])
    body = mailgun_body(MAILGUN_KEY, mailgun_event(sent))
    url = f"/webhooks/mailgun/{servers['mailgun']}"

    answer = await bounces.post(url, content=body, headers={"Content-Type": "application/json"})
    replay = await bounces.post(url, content=body, headers={"Content-Type": "application/json"})

    assert (answer.status_code, answer.json()) == (200, {"taken": 1}), answer.text
    assert replay.status_code == 403 and "used before" in replay.json()["detail"]
    await assert_suppressed(database, sent)


async def test_mailgun_wrong_key_missing_or_expired_signature_is_refused(bounces, servers, database):
    sent = await sent_through(database, servers["mailgun"])
    url = f"/webhooks/mailgun/{servers['mailgun']}"
    event = mailgun_event(sent)

    wrong = await bounces.post(url, content=mailgun_body("not-the-signing-key", event))
    missing = await bounces.post(url, content=json.dumps({"event-data": event}).encode())
    expired = await bounces.post(
        url, content=mailgun_body(MAILGUN_KEY, event, timestamp=int(time.time()) - 3600)
    )

    assert [r.status_code for r in (wrong, missing, expired)] == [403, 401, 403]
    await assert_untouched(database, sent)


# --- SparkPost --------------------------------------------------------------------------------


def sparkpost_batch(sent, **fields) -> bytes:
    event = {
        "type": "bounce",
        "bounce_class": "10",
        "event_id": uuid4().hex,
        "rcpt_to": sent.recipient,
        "transmission_id": "123",
        "timestamp": str(int(time.time())),
        "rcpt_meta": {"sendpool_message_id": str(sent.message_id)},
        "raw_reason": "550 5.1.1 user unknown",
        **fields,
    }
    return json.dumps([{"msys": {"message_event": event}}]).encode()


async def test_sparkpost_with_basic_auth_or_token_header_and_its_test_batch(bounces, servers, database):
    url = f"/webhooks/sparkpost/{servers['sparkpost']}"
    sent, complained = (
        await sent_through(database, servers["sparkpost"]),
        await sent_through(database, servers["sparkpost"]),
    )

    basic = await bounces.post(url, content=sparkpost_batch(sent), headers=basic_auth(SPARKPOST_TOKEN))
    header = await bounces.post(
        url,
        content=sparkpost_batch(complained, type="spam_complaint"),
        headers={"X-MessageSystems-Webhook-Token": SPARKPOST_TOKEN},
    )
    test_batch = await bounces.post(url, content=b'[{"msys": {}}]', headers=basic_auth(SPARKPOST_TOKEN))

    assert [(r.status_code, r.json()) for r in (basic, header, test_batch)] == [
        (200, {"taken": 1}),
        (200, {"taken": 1}),
        (200, {"taken": 0}),
    ]
    await assert_suppressed(database, sent)
    await assert_suppressed(database, complained)


async def test_sparkpost_wrong_or_missing_credentials_are_refused(bounces, servers, database):
    sent = await sent_through(database, servers["sparkpost"])
    url = f"/webhooks/sparkpost/{servers['sparkpost']}"
    body = sparkpost_batch(sent)

    wrong = await bounces.post(url, content=body, headers=basic_auth("a-guess-of-the-same-length!"))
    missing = await bounces.post(url, content=body)

    assert [(r.status_code) for r in (wrong, missing)] == [403, 401]
    await assert_untouched(database, sent)


# --- Elastic Email ----------------------------------------------------------------------------


async def test_elastic_email_notification_with_its_token(bounces, servers, database, logs_dir):
    sent = await sent_through(database, servers["elasticemail"])
    url = f"/webhooks/elasticemail/{servers['elasticemail']}"
    params = {
        "status": "Error",
        "category": "NoMailbox",
        "to": sent.recipient,
        "postback": str(sent.message_id),
        "transaction": "t1",
    }

    answer = await bounces.get(url, params={**params, "token": ELASTIC_TOKEN})

    assert (answer.status_code, answer.json()) == (200, {"taken": 1}), answer.text
    await assert_suppressed(database, sent)
    # The token is in the URL, which the access log writes: masked there.
    log = (logs_dir / "webhooks-bounces.log").read_text()
    assert f"/webhooks/elasticemail/{servers['elasticemail']}?" in log
    assert ELASTIC_TOKEN not in log


async def test_elastic_email_wrong_or_missing_token_is_refused(bounces, servers, database):
    sent = await sent_through(database, servers["elasticemail"])
    url = f"/webhooks/elasticemail/{servers['elasticemail']}"
    params = {"status": "AbuseReport", "to": sent.recipient, "postback": str(sent.message_id)}

    wrong = await bounces.get(url, params={**params, "token": "elastic-webhook-token-0123X"})
    missing = await bounces.get(url, params=params)

    assert [r.status_code for r in (wrong, missing)] == [403, 401]
    await assert_untouched(database, sent)


# --- SES through SNS --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_ses_bounce_signed_by_sns_suppresses(bounces, servers, database, sns_fake, version):
    sent = await sent_through(database, servers["ses"])
    cert_url = sns_fake.serve(SNS)
    message = sns_notification(
        ses_bounce(sent.recipient, message_id=sent.message_id), cert_url=cert_url, topic_arn=TOPIC
    )

    answer = await bounces.post(
        f"/webhooks/ses/{servers['ses']}",
        content=json.dumps(SNS.sign(message, version=version)),
        headers={"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain; charset=UTF-8"},
    )

    assert (answer.status_code, answer.json()) == (200, {"taken": 1}), answer.text
    await assert_suppressed(database, sent)


async def test_ses_forged_unsigned_or_foreign_certificate_is_refused(bounces, servers, database, sns_fake):
    sent = await sent_through(database, servers["ses"])
    url = f"/webhooks/ses/{servers['ses']}"
    notification = ses_bounce(sent.recipient, message_id=sent.message_id)
    cert_url = sns_fake.serve(SNS)

    # Signed with a key of the forger's own, whose certificate it cannot place on an SNS host.
    forger = SnsSigner()
    forged = await bounces.post(
        url,
        content=json.dumps(forger.sign(sns_notification(notification, cert_url=cert_url, topic_arn=TOPIC))),
    )
    own_host = forger.sign(
        sns_notification(
            notification,
            cert_url=f"https://127.0.0.1:{sns_fake.base_url.rsplit(':', 1)[1]}/x.pem",
            topic_arn=TOPIC,
        )
    )
    foreign = await bounces.post(url, content=json.dumps(own_host))
    raw_delivery = await bounces.post(url, content=json.dumps(notification))
    other_topic = await bounces.post(
        url,
        content=json.dumps(
            SNS.sign(sns_notification(notification, cert_url=cert_url, topic_arn=TOPIC + "-other"))
        ),
    )

    assert [r.status_code for r in (forged, foreign, raw_delivery, other_topic)] == [403, 403, 401, 403]
    assert "not an SNS host" in foreign.json()["detail"]
    await assert_untouched(database, sent)


async def test_ses_subscription_is_confirmed_at_sns_once_verified(bounces, servers, sns_fake):
    cert_url = sns_fake.serve(SNS)
    url = f"/webhooks/ses/{servers['ses']}"

    confirmation = SNS.sign(
        sns_subscription_confirmation(
            cert_url=cert_url, subscribe_url=sns_fake.subscribe_url("token-ok"), topic_arn=TOPIC
        )
    )
    forged = SnsSigner().sign(
        sns_subscription_confirmation(
            cert_url=cert_url, subscribe_url=sns_fake.subscribe_url("token-forged"), topic_arn=TOPIC
        )
    )

    answer = await bounces.post(url, content=json.dumps(confirmation))
    refused = await bounces.post(url, content=json.dumps(forged))

    assert (answer.status_code, answer.json()) == (200, {"taken": 0, "note": "subscription confirmed"}), (
        answer.text
    )
    assert refused.status_code == 403
    assert sns_fake.confirmations == ["token-ok"]


async def test_a_webhook_never_acts_on_a_message_sent_through_another_server(bounces, servers, database):
    """A tenant controls its own server's webhook keys, so it can sign anything for that server; a
    message id it names that went out through another server (another tenant's) must stay untouched."""
    foreign = await sent_through(database, servers["mailgun"])
    body = sendgrid_events(foreign)

    answer = await bounces.post(
        f"/webhooks/sendgrid/{servers['sendgrid']}", content=body, headers=SENDGRID.headers(body)
    )

    assert answer.status_code == 200  # verified: kept as unmatched, never acted on
    assert await suppressions_of(database, foreign.tenant_id) == {}
    [row] = await feedback_rows(database, claimed_message_id=foreign.message_id)
    assert row["message_id"] is None
