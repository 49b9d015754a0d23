"""The fakes really hold requests to the vendors' specs: a request a spec rejects gets a 400 that
names the problem, and is recorded as a violation (which fails the test that sent it)."""

import base64
import functools
import json

import httpx
import pytest

from tests.support.tls import client_context

post = functools.partial(httpx.post, verify=client_context())
"""The fakes serve https with the test CA's certificate."""


def _rejected(fake, response: httpx.Response, *expected: str) -> None:
    assert response.status_code == 400, response.text
    problems = "\n".join(fake.violations)
    for words in expected:
        assert words in problems
    fake.reset()  # the violations were the point here, not a fault of the test


def test_sendgrid_fake_rejects_a_mail_send_without_sender_or_valid_recipient(sendgrid):
    response = post(
        f"{sendgrid.base_url}/v3/mail/send",
        json={"personalizations": [{"to": [{"email": "not-an-address"}]}], "subject": ""},
        headers={"Authorization": f"Bearer {sendgrid.api_key}"},
    )

    _rejected(sendgrid, response, "'from' is a required property", "'not-an-address' is not a 'email'")


def test_sendgrid_fake_rejects_a_request_without_credentials(sendgrid):
    response = post(f"{sendgrid.base_url}/v3/mail/batch")

    _rejected(sendgrid, response, "Security")


def test_mailgun_fake_rejects_an_upload_without_the_message(mailgun):
    response = post(
        f"{mailgun.base_url}/v3/{mailgun.domain}/messages.mime",
        files={"to": (None, "ada@inbox.example"), "o:dkim": (None, "maybe")},
        auth=("api", mailgun.api_key),
    )

    _rejected(mailgun, response, "'message' is a required property", "'maybe' is not one of")


def test_elasticemail_fake_rejects_unknown_body_types(elasticemail):
    response = post(
        f"{elasticemail.base_url}/v4/emails/transactional",
        json={"Recipients": {"To": ["ada@inbox.example"]}, "Content": {"Body": [{"ContentType": "Text"}]}},
        headers={"X-ElasticEmail-ApiKey": elasticemail.api_key},
    )

    _rejected(elasticemail, response, "'Text' is not one of ['HTML', 'PlainText', 'AMP', 'CSS']")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"content": {"email_rfc822": "Subject: x\r\n\r\nhi\r\n"}}, "/recipients: required"),
        (
            {
                "recipients": [{"address": {"email": "a@b.example"}}],
                "content": {"email_rfc822": "S: x\r\n\r\n.\r\n"},
            },
            "SMTP terminator",
        ),
        ({"recipients": [{"address": 7}], "content": {"template_id": "t1"}}, "/recipients/0/address"),
        ({"recipients": [], "content": {"template_id": "t"}, "campaign": "x"}, "/campaign: not an attribute"),
        (
            {"recipients": [], "content": {"template_id": "t"}, "options": {"sandbox": "yes"}},
            "must be boolean",
        ),
        ({"recipients": [], "content": {"from": "a@b.example", "subject": "s"}}, "needs html or text"),
        ({"recipients": [], "content": {"template_id": "t"}, "campaign_id": "c" * 65}, "at most 64"),
    ],
)
def test_sparkpost_fake_holds_transmissions_to_the_blueprint(sparkpost, body, problem):
    response = post(
        f"{sparkpost.base_url}/api/v1/transmissions", json=body, headers={"Authorization": sparkpost.api_key}
    )

    _rejected(sparkpost, response, problem)


def test_ses_fake_holds_send_email_to_the_service_model(ses):
    body = {"Destination": {"ToAddresses": "ada@inbox.example"}, "Content": {"Raw": {}}, "Colour": "blue"}
    response = post(f"{ses.base_url}/v2/email/outbound-emails", content=json.dumps(body))

    _rejected(
        ses,
        response,
        'Unknown parameter in input: "Colour"',
        "Invalid type for parameter Destination.ToAddresses",
        'Missing required parameter in Content.Raw: "Data"',
    )


def test_ses_fake_checks_the_raw_message_rules(ses):
    raw = base64.b64encode(b"Subject: no body separator").decode()
    response = post(
        f"{ses.base_url}/v2/email/outbound-emails", content=json.dumps({"Content": {"Raw": {"Data": raw}}})
    )

    _rejected(ses, response, "no blank line between header and body")
