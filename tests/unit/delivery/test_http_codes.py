"""Every row of every vendor's HTTP table, the outcome each answer becomes, and Retry-After."""

from datetime import UTC, datetime

import pytest

from services.delivery.domain.http_codes import (
    CREDENTIALS_REFUSED,
    ELASTICEMAIL_RULES,
    MAILGUN_RULES,
    SENDGRID_RULES,
    SES_RULES,
    SPARKPOST_RECIPIENTS_REJECTED,
    SPARKPOST_RULES,
    VendorAnswer,
    classify_http,
    outcome_of,
    retry_after_seconds,
)
from services.delivery.domain.outcomes import Deferred, Failed, Sent
from services.delivery.domain.smtp_codes import ReplyClass

ACCEPTED, TRANSIENT, PERMANENT = ReplyClass.ACCEPTED, ReplyClass.TRANSIENT, ReplyClass.PERMANENT

TABLES = {
    "ses": SES_RULES,
    "sendgrid": SENDGRID_RULES,
    "mailgun": MAILGUN_RULES,
    "sparkpost": SPARKPOST_RULES,
    "elasticemail": ELASTICEMAIL_RULES,
}

CASES = [
    # (vendor, HTTP status, vendor's error code, reply class, enhanced code)
    ("ses", 200, None, ACCEPTED, None),
    ("ses", 403, "SignatureDoesNotMatch", PERMANENT, CREDENTIALS_REFUSED),
    ("ses", 403, "AccessDeniedException", PERMANENT, CREDENTIALS_REFUSED),
    ("ses", 401, None, PERMANENT, CREDENTIALS_REFUSED),
    ("ses", 429, "TooManyRequestsException", TRANSIENT, None),
    ("ses", 400, "LimitExceededException", TRANSIENT, None),
    ("ses", 400, "SendingPausedException", TRANSIENT, "4.3.2"),
    ("ses", 400, "AccountSuspendedException", PERMANENT, "5.3.2"),
    ("ses", 400, "MessageRejected", PERMANENT, None),
    ("ses", 400, "MailFromDomainNotVerifiedException", PERMANENT, None),
    ("ses", 404, "NotFoundException", PERMANENT, None),
    ("ses", 400, "BadRequestException", PERMANENT, None),
    ("ses", 503, "ServiceUnavailable", TRANSIENT, None),
    ("sendgrid", 202, None, ACCEPTED, None),
    ("sendgrid", 401, None, PERMANENT, CREDENTIALS_REFUSED),
    ("sendgrid", 403, None, PERMANENT, CREDENTIALS_REFUSED),
    ("sendgrid", 413, None, PERMANENT, None),
    ("sendgrid", 429, None, TRANSIENT, None),
    ("sendgrid", 400, None, PERMANENT, None),
    ("sendgrid", 500, None, TRANSIENT, None),
    ("mailgun", 200, None, ACCEPTED, None),
    ("mailgun", 401, None, PERMANENT, CREDENTIALS_REFUSED),
    ("mailgun", 403, None, PERMANENT, CREDENTIALS_REFUSED),
    ("mailgun", 404, None, PERMANENT, None),
    ("mailgun", 413, None, PERMANENT, None),
    ("mailgun", 429, None, TRANSIENT, None),
    ("mailgun", 400, None, PERMANENT, None),
    ("mailgun", 502, None, TRANSIENT, None),
    ("sparkpost", 200, SPARKPOST_RECIPIENTS_REJECTED, PERMANENT, None),
    ("sparkpost", 200, None, ACCEPTED, None),
    ("sparkpost", 401, None, PERMANENT, CREDENTIALS_REFUSED),
    ("sparkpost", 403, None, PERMANENT, CREDENTIALS_REFUSED),
    ("sparkpost", 420, "2101", TRANSIENT, None),
    ("sparkpost", 429, None, TRANSIENT, None),
    ("sparkpost", 400, "7001", PERMANENT, None),
    ("sparkpost", 500, None, TRANSIENT, None),
    ("elasticemail", 200, None, ACCEPTED, None),
    ("elasticemail", 401, None, PERMANENT, CREDENTIALS_REFUSED),
    ("elasticemail", 403, None, PERMANENT, CREDENTIALS_REFUSED),
    ("elasticemail", 429, None, TRANSIENT, None),
    ("elasticemail", 400, None, PERMANENT, None),
    ("elasticemail", 504, None, TRANSIENT, None),
]


@pytest.mark.parametrize(("vendor", "status", "error_code", "reply_class", "enhanced_code"), CASES)
def test_answer_is_classified(vendor, status, error_code, reply_class, enhanced_code):
    rule = classify_http(TABLES[vendor], status, error_code)

    assert (rule.reply_class, rule.enhanced_code) == (reply_class, enhanced_code), rule.why


@pytest.mark.parametrize("vendor", TABLES)
def test_every_row_of_the_vendors_table_is_exercised(vendor):
    used = {
        classify_http(TABLES[vendor], status, error_code)
        for case_vendor, status, error_code, _, _ in CASES
        if case_vendor == vendor
    }

    assert set(TABLES[vendor]) <= used


@pytest.mark.parametrize("vendor", TABLES)
def test_undocumented_answers_fail_rather_than_count_as_sent(vendor):
    assert classify_http(TABLES[vendor], 302).reply_class is PERMANENT


def test_a_sent_answer_carries_the_vendors_message_id():
    answer = VendorAnswer(vendor="SendGrid", status=202, message_id="sg-123")

    assert outcome_of(SENDGRID_RULES, answer) == Sent("sg-123", 202, "accepted by SendGrid (202)")


def test_a_throttled_answer_defers_for_as_long_as_the_vendor_asked():
    answer = VendorAnswer(vendor="SendGrid", status=429, reason="too many requests", retry_after=120.0)

    outcome = outcome_of(SENDGRID_RULES, answer)

    assert isinstance(outcome, Deferred)
    assert outcome.retry_after == 120.0
    assert outcome.reply_text == "SendGrid's rate limit was reached; SendGrid answered 429: too many requests"


def test_refused_credentials_say_so_and_carry_the_code_that_blames_the_server():
    answer = VendorAnswer(
        vendor="SES", status=403, error_code="SignatureDoesNotMatch", reason="bad signature"
    )

    outcome = outcome_of(SES_RULES, answer)

    assert isinstance(outcome, Failed)
    assert outcome.enhanced_code == CREDENTIALS_REFUSED
    assert outcome.reply_text.startswith("SES refused the credentials")
    assert "403 SignatureDoesNotMatch: bad signature" in outcome.reply_text


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 01 Mar 2026 12:01:30 GMT", 90.0),
        ("Sun, 01 Mar 2026 11:59:00 GMT", 0.0),  # a date already past: no wait, not a negative one
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    assert retry_after_seconds(header, NOW) == seconds
