"""Every row of every vendor's table from its events to our feedback classes, through the real parsing."""

import json
import uuid
from pathlib import Path

import pytest

from services.bounces.domain.webhooks import elasticemail, mailgun, sendgrid, ses, sparkpost
from services.bounces.domain.webhooks.common import WebhookServer
from shared.contracts import FeedbackClass

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "webhook-samples"
SERVER = WebhookServer(uuid.uuid4(), "any", {})
MESSAGE_ID = uuid.uuid4()


def only(feedback):
    assert len(feedback) == 1
    return feedback[0]


# --- SendGrid ---------------------------------------------------------------------------------


def sendgrid_event(**fields):
    return {
        "email": "Someone@Example.com",
        "timestamp": 1700000000,
        "sg_event_id": "ev-1",
        "sg_message_id": "XMSG123.filter0001.1.0",
        "sendpool_message_id": str(MESSAGE_ID),
        **fields,
    }


@pytest.mark.parametrize(("bounce_type", "expected"), sorted(sendgrid.BOUNCE_TYPES.items()))
def test_sendgrid_bounce_types(bounce_type, expected):
    event = sendgrid_event(event="bounce", type=bounce_type, status="5.1.1", reason="550 no such user")
    feedback = only(sendgrid.feedback_of(SERVER, json.dumps([event]).encode()))
    assert feedback.classification.feedback_class is expected
    assert feedback.classification.rule == f"sendgrid.bounce.{bounce_type}"
    recipient = feedback.classification.recipients[0]
    assert (recipient.address, recipient.status, recipient.diagnostic) == (
        "someone@example.com",
        "5.1.1",
        "550 no such user",
    )
    assert (feedback.message_id, feedback.vendor_message_id, feedback.source) == (
        MESSAGE_ID,
        "XMSG123",
        "sendgrid",
    )
    assert feedback.details == {"event_id": "ev-1"}


def test_a_sendgrid_bounce_without_a_type_is_its_older_hard_bounce():
    feedback = only(sendgrid.feedback_of(SERVER, json.dumps([sendgrid_event(event="bounce")]).encode()))
    assert feedback.classification.feedback_class is FeedbackClass.HARD


@pytest.mark.parametrize(("reason", "expected"), sorted(sendgrid.DROPPED_REASONS.items()))
def test_sendgrid_dropped_reasons(reason, expected):
    body = json.dumps([sendgrid_event(event="dropped", reason=reason)]).encode()
    assert only(sendgrid.feedback_of(SERVER, body)).classification.feedback_class is expected


def test_a_sendgrid_drop_for_another_reason_is_kept_as_unknown():
    body = json.dumps(
        [sendgrid_event(event="dropped", reason="Spam Content (if spam checker app enabled)")]
    ).encode()
    feedback = only(sendgrid.feedback_of(SERVER, body))
    assert (feedback.classification.feedback_class, feedback.classification.rule) == (
        FeedbackClass.UNKNOWN,
        "sendgrid.dropped.other",
    )


@pytest.mark.parametrize(("name", "expected"), sorted(sendgrid.EVENTS.items()))
def test_sendgrid_events(name, expected):
    feedback = sendgrid.feedback_of(SERVER, json.dumps([sendgrid_event(event=name)]).encode())
    if expected is None:
        assert feedback == []
    else:
        assert only(feedback).classification.feedback_class is expected


def test_sendgrid_custom_args_nested_are_read_too_and_a_batch_keeps_its_order():
    events = [
        {
            "event": "spamreport",
            "email": "a@example.com",
            "custom_args": {"sendpool_message_id": str(MESSAGE_ID)},
        },
        {"event": "delivered", "email": "b@example.com"},
        {"event": "bounce", "type": "blocked", "email": "c@example.com", "sendpool_message_id": "not-a-uuid"},
    ]
    feedback = sendgrid.feedback_of(SERVER, json.dumps(events).encode())
    assert [f.classification.recipients[0].address for f in feedback] == ["a@example.com", "c@example.com"]
    assert [f.message_id for f in feedback] == [MESSAGE_ID, None]


# --- Mailgun ----------------------------------------------------------------------------------


def mailgun_body(**event):
    data = {
        "id": "mg-event-1",
        "timestamp": 1700000000.5,
        "recipient": "Someone@Example.com",
        "message": {"headers": {"message-id": "20260101.abc@mg.example.com"}},
        "user-variables": {"sendpool_message_id": str(MESSAGE_ID)},
        "delivery-status": {
            "code": 550,
            "message": "5.1.1 The email account does not exist",
            "mx-host": "mx.example.com",
        },
        **event,
    }
    return json.dumps({"signature": {}, "event-data": data}).encode()


@pytest.mark.parametrize(("severity", "expected"), sorted(mailgun.FAILED_SEVERITIES.items()))
def test_mailgun_failed_severities(severity, expected):
    feedback = only(
        mailgun.feedback_of(SERVER, mailgun_body(event="failed", severity=severity, reason="bounce"))
    )
    assert (feedback.classification.feedback_class, feedback.classification.rule) == (
        expected,
        f"mailgun.failed.{severity}",
    )
    recipient = feedback.classification.recipients[0]
    assert (recipient.address, recipient.action, recipient.remote_mta) == (
        "someone@example.com",
        "failed",
        "mx.example.com",
    )
    assert recipient.diagnostic == "5.1.1 The email account does not exist"
    assert (feedback.message_id, feedback.vendor_message_id) == (MESSAGE_ID, "20260101.abc@mg.example.com")


@pytest.mark.parametrize(("reason", "expected"), sorted(mailgun.FAILED_REASONS.items()))
def test_mailgun_failed_reasons_come_before_the_severity(reason, expected):
    feedback = only(
        mailgun.feedback_of(SERVER, mailgun_body(event="failed", severity="permanent", reason=reason))
    )
    assert feedback.classification.feedback_class is expected


@pytest.mark.parametrize(("name", "expected"), sorted(mailgun.EVENTS.items()))
def test_mailgun_events(name, expected):
    feedback = mailgun.feedback_of(SERVER, mailgun_body(event=name))
    if expected is None:
        assert feedback == []
    else:
        assert only(feedback).classification.feedback_class is expected


def test_a_mailgun_failure_of_unknown_severity_is_unknown():
    feedback = only(mailgun.feedback_of(SERVER, mailgun_body(event="failed", severity="odd")))
    assert feedback.classification.feedback_class is FeedbackClass.UNKNOWN


# --- SparkPost --------------------------------------------------------------------------------


def sparkpost_item(kind="message_event", **event):
    return {
        "msys": {
            kind: {
                "event_id": "sp-1",
                "rcpt_to": "Someone@Example.com",
                "transmission_id": "7060123",
                "timestamp": "1700000000",
                "rcpt_meta": {"sendpool_message_id": str(MESSAGE_ID)},
                "raw_reason": "550 5.1.1 user unknown",
                **event,
            }
        }
    }


@pytest.mark.parametrize(("bounce_class", "expected"), sorted(sparkpost.BOUNCE_CLASSES.items()))
@pytest.mark.parametrize("event_type", sorted(sparkpost.BOUNCE_EVENTS))
def test_sparkpost_bounce_classes(event_type, bounce_class, expected):
    body = json.dumps([sparkpost_item(type=event_type, bounce_class=str(bounce_class))]).encode()
    feedback = only(sparkpost.feedback_of(SERVER, body))
    assert (feedback.classification.feedback_class, feedback.classification.rule) == (
        expected,
        f"sparkpost.{event_type}.class-{bounce_class}",
    )
    assert (feedback.message_id, feedback.vendor_message_id) == (MESSAGE_ID, "7060123")
    assert feedback.classification.recipients[0].address == "someone@example.com"


def test_a_sparkpost_bounce_class_not_listed_is_unknown():
    body = json.dumps([sparkpost_item(type="bounce", bounce_class=999)]).encode()
    assert only(sparkpost.feedback_of(SERVER, body)).classification.feedback_class is FeedbackClass.UNKNOWN


@pytest.mark.parametrize(("name", "expected"), sorted(sparkpost.EVENTS.items()))
def test_sparkpost_events(name, expected):
    kind = "unsubscribe_event" if "unsubscribe" in name else "message_event"
    feedback = sparkpost.feedback_of(SERVER, json.dumps([sparkpost_item(kind, type=name)]).encode())
    if expected is None:
        assert feedback == []
    else:
        assert only(feedback).classification.feedback_class is expected


def test_sparkposts_test_batch_is_taken_with_nothing_in_it():
    assert sparkpost.feedback_of(SERVER, b'[{"msys": {}}]') == []


def test_sparkpost_metadata_carries_the_message_id_too():
    item = sparkpost_item(
        type="spam_complaint", rcpt_meta={}, metadata={"sendpool_message_id": str(MESSAGE_ID)}
    )
    assert only(sparkpost.feedback_of(SERVER, json.dumps([item]).encode())).message_id == MESSAGE_ID


# --- Elastic Email ----------------------------------------------------------------------------


def elastic_fields(**fields):
    return {
        "to": "Someone@Example.com",
        "transaction": "tx-1",
        "messageid": "msg-1",
        "postback": str(MESSAGE_ID),
        "date": "2026-01-02T03:04:05",
        "token": "never-kept-in-the-record",
        **fields,
    }


@pytest.mark.parametrize(("category", "expected"), sorted(elasticemail.CATEGORIES.items()))
def test_elasticemail_error_categories(category, expected):
    feedback = only(elasticemail.feedback_of(SERVER, elastic_fields(status="Error", category=category)))
    assert (feedback.classification.feedback_class, feedback.classification.rule) == (
        expected,
        f"elasticemail.error.{category.lower()}",
    )
    assert (feedback.message_id, feedback.vendor_message_id) == (MESSAGE_ID, "msg-1")
    assert b"never-kept" not in feedback.raw


def test_an_elasticemail_category_not_listed_is_unknown():
    feedback = only(elasticemail.feedback_of(SERVER, elastic_fields(status="Error", category="Brand New")))
    assert feedback.classification.feedback_class is FeedbackClass.UNKNOWN


@pytest.mark.parametrize(("status", "expected"), sorted(elasticemail.STATUSES.items()))
def test_elasticemail_statuses(status, expected):
    feedback = elasticemail.feedback_of(SERVER, elastic_fields(status=status))
    if expected is None:
        assert feedback == []
    else:
        assert only(feedback).classification.feedback_class is expected


# --- SES --------------------------------------------------------------------------------------


def ses_message(notification):
    return ses.SnsMessage({"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(notification)})


def ses_bounce(bounce_type):
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bouncedRecipients": [
                {
                    "emailAddress": "A@Example.com",
                    "status": "5.1.1",
                    "action": "failed",
                    "diagnosticCode": "smtp; 550",
                },
                {"emailAddress": "b@example.com", "status": "5.1.1", "diagnosticCode": "smtp; 550"},
            ],
            "feedbackId": "fb-1",
            "timestamp": "2026-01-02T03:04:05.000Z",
            "reportingMTA": "dsn; a1.amazonses.com",
        },
        "mail": {
            "messageId": "ses-1",
            "headers": [{"name": "X-Sendpool-Message-Id", "value": str(MESSAGE_ID)}],
        },
    }


@pytest.mark.parametrize(("bounce_type", "expected"), sorted(ses.BOUNCE_TYPES.items()))
def test_ses_bounce_types(bounce_type, expected):
    feedback = only(ses.feedback_of(SERVER, ses_message(ses_bounce(bounce_type)), b"raw"))
    assert (feedback.classification.feedback_class, feedback.classification.rule) == (
        expected,
        f"ses.bounce.{bounce_type.lower()}",
    )
    assert [(r.address, r.status, r.action) for r in feedback.classification.recipients] == [
        ("a@example.com", "5.1.1", "failed"),
        ("b@example.com", "5.1.1", "failed"),
    ]
    assert (feedback.message_id, feedback.vendor_message_id, feedback.raw) == (MESSAGE_ID, "ses-1", b"raw")
    assert feedback.details == {"event_id": "fb-1"}


@pytest.mark.parametrize(("feedback_type", "expected"), sorted(ses.COMPLAINT_TYPES.items()))
def test_ses_complaint_types(feedback_type, expected):
    complaint = {"complainedRecipients": [{"emailAddress": "a@example.com"}], "feedbackId": "fb-2"}
    if feedback_type:
        complaint["complaintFeedbackType"] = feedback_type
    notification = {"notificationType": "Complaint", "complaint": complaint, "mail": {"messageId": "ses-2"}}
    feedback = only(ses.feedback_of(SERVER, ses_message(notification), b"raw"))
    assert feedback.classification.feedback_class is expected
    assert feedback.message_id is None  # no header: matched by the vendor message id, or not at all


@pytest.mark.parametrize("kind", sorted(ses.IGNORED_TYPES))
def test_ses_notifications_that_are_no_feedback_are_ignored(kind):
    assert ses.feedback_of(SERVER, ses_message({"notificationType": kind, "mail": {}}), b"raw") == []
    assert ses.feedback_of(SERVER, ses_message({"eventType": kind, "mail": {}}), b"raw") == []


def test_ses_event_publishing_uses_event_type():
    notification = {**ses_bounce("Permanent"), "eventType": "Bounce"}
    del notification["notificationType"]
    assert only(ses.feedback_of(SERVER, ses_message(notification), b"raw")).classification.feedback_class is (
        FeedbackClass.HARD
    )


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("sisimai-json-amazonses-01.json", FeedbackClass.HARD),
        ("sisimai-json-amazonses-03.json", FeedbackClass.COMPLAINT),
        ("sisimai-json-amazonses-04.json", None),
        ("sisimai-json-amazonses-05.json", None),
        ("sisimai-json-amazonses-06.json", FeedbackClass.HARD),
    ],
)
def test_the_ses_samples(sample, expected):
    notification = json.loads((SAMPLES / sample).read_text())
    feedback = ses.feedback_of(SERVER, ses_message(notification), b"raw")
    if expected is None:
        assert feedback == []
    else:
        assert only(feedback).classification.feedback_class is expected
        assert only(feedback).classification.recipients[0].address.endswith("@simulator.amazonses.com")
