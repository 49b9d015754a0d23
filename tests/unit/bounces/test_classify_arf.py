"""RFC 5965 feedback reports and the other ways a recipient's complaint or opt-out arrives."""

import pytest

from services.bounces.domain.classify import classify_message
from shared.contracts import FeedbackClass


def arf(feedback_type: str, *fields: str, original_to: str = "reader@example.com") -> bytes:
    report = "\n".join(
        (f"Feedback-Type: {feedback_type}", "User-Agent: SomeGenerator/1.0", "Version: 1", *fields)
    )
    text = (
        "From: fbl@isp.example\nTo: fbl@sendpool.test\nSubject: FW: Big sale\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nThis is an email abuse report.\n"
        f"--B\nContent-Type: message/feedback-report\n\n{report}\n\n"
        f"--B\nContent-Type: message/rfc822\n\nFrom: news@tenant.example\nTo: {original_to}\nSubject: Big sale\n\nBuy!\n"
        "--B--\n"
    )
    return text.replace("\n", "\r\n").encode()


@pytest.mark.parametrize(
    ("feedback_type", "feedback_class", "rule"),
    [
        ("abuse", FeedbackClass.COMPLAINT, "arf.abuse"),
        ("fraud", FeedbackClass.COMPLAINT, "arf.fraud"),
        ("virus", FeedbackClass.COMPLAINT, "arf.virus"),
        ("other", FeedbackClass.COMPLAINT, "arf.other"),
        ("opt-out", FeedbackClass.UNSUBSCRIBE, "arf.opt-out"),
        ("auth-failure", FeedbackClass.NOT_BOUNCE, "arf.auth-failure"),
        ("not-spam", FeedbackClass.NOT_BOUNCE, "arf.not-spam"),
        ("Abuse", FeedbackClass.COMPLAINT, "arf.abuse"),
        ("made-up-type", FeedbackClass.UNKNOWN, "arf.unregistered-type"),
    ],
)
def test_feedback_type_decides_the_class(
    feedback_type: str, feedback_class: FeedbackClass, rule: str
) -> None:
    result = classify_message(arf(feedback_type, "Original-Rcpt-To: <Reader@Example.com>"))
    assert (result.feedback_class, result.rule) == (feedback_class, rule)
    assert result.feedback_type == feedback_type.lower()
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_every_original_rcpt_to_and_removal_recipient_is_a_recipient() -> None:
    result = classify_message(
        arf(
            "opt-out",
            "Removal-Recipient: one@example.com",
            "Original-Rcpt-To: two@example.com",
            "Original-Rcpt-To: three@example.com",
        )
    )
    assert [r.address for r in result.recipients] == [
        "one@example.com",
        "two@example.com",
        "three@example.com",
    ]


def test_without_rcpt_fields_the_returned_message_names_the_recipient() -> None:
    result = classify_message(arf("abuse", original_to="Reader <who@example.org>"))
    assert [r.address for r in result.recipients] == ["who@example.org"]


def test_a_microsoft_jmrp_complaint_is_a_complaint_about_the_stamped_recipient() -> None:
    raw = (
        b"From: staff@hotmail.com\nSubject: complaint about message from 192.0.2.1\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n'
        b"--B\nContent-Type: message/rfc822\n\nX-HmXmrOriginalRecipient: reader@outlook.example\n"
        b"From: news@tenant.example\nTo: reader@outlook.example\nSubject: hi\n\nhello\n--B--\n"
    )
    result = classify_message(raw)
    assert (result.feedback_class, result.rule) == (FeedbackClass.COMPLAINT, "arf.jmrp")
    assert [r.address for r in result.recipients] == ["reader@outlook.example"]


def test_a_mail_client_unsubscribe_request_is_an_unsubscribe_of_its_sender() -> None:
    raw = (
        b"From: reader@icloud.example\nTo: unsubscribe@sendpool.test\nSubject: unsubscribe\n"
        b"Auto-Submitted: auto-replied\nX-Apple-Unsubscribe: true\n\nApple Mail sent this email to unsubscribe.\n"
    )
    result = classify_message(raw)
    assert (result.feedback_class, result.rule) == (FeedbackClass.UNSUBSCRIBE, "unsubscribe.mail-client")
    assert [r.address for r in result.recipients] == ["reader@icloud.example"]


def test_a_feedback_type_line_in_ordinary_mail_is_no_report() -> None:
    raw = b"From: person@example.com\r\nSubject: question\r\n\r\nFeedback-Type: abuse\r\nplease help\r\n"
    assert classify_message(raw).feedback_class is FeedbackClass.NOT_BOUNCE


def test_report_fields_written_into_a_text_part_are_read() -> None:
    raw = (
        b"From: fbl@isp.example\r\nSubject: Abuse report\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1\r\nVersion: 1\r\n"
        b"Original-Rcpt-To: reader@example.com\r\n--B--\r\n"
    )
    result = classify_message(raw)
    assert (result.feedback_class, result.rule) == (FeedbackClass.COMPLAINT, "arf.abuse")
    assert [r.address for r in result.recipients] == ["reader@example.com"]
