"""RFC 3464 delivery status notifications, one rule per test."""

import base64
from uuid import UUID

from services.bounces.domain.classify import classify_message
from shared.contracts import FeedbackClass

MESSAGE_ID = UUID("6f1c2d3e-0000-4000-8000-000000000001")


def dsn(*recipient_blocks: str, returned: str = "", encoding: str = "") -> bytes:
    """A multipart/report DSN as Postfix writes it, with the given per-recipient field blocks."""
    status = "Reporting-MTA: dns; mx.example.net\n\n" + "\n\n".join(recipient_blocks) + "\n"
    if encoding == "base64":
        status = base64.encodebytes(status.encode()).decode()
    returned_part = f"--B\nContent-Type: text/rfc822-headers\n\n{returned}\n" if returned else ""
    text = (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        "To: bounces+token@bounce.sendpool.test\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could not be delivered.\n"
        "--B\nContent-Type: message/delivery-status\n"
        + (f"Content-Transfer-Encoding: {encoding}\n" if encoding else "")
        + f"\n{status}\n"
        + returned_part
        + "--B--\n"
    )
    return text.replace("\n", "\r\n").encode()


def test_status_5_is_hard_with_the_recipient_fields() -> None:
    result = classify_message(
        dsn(
            "Final-Recipient: rfc822; Gone@Example.com\nOriginal-Recipient: rfc822;gone@example.com\n"
            "Action: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.com\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address rejected:\n"
            "    User unknown in local recipient table"
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "dsn.status-5xx")
    (report,) = result.recipients
    assert report.address == "gone@example.com"
    assert (report.status, report.action, report.remote_mta) == ("5.1.1", "failed", "mx.example.com")
    assert report.diagnostic == (
        "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown in local recipient table"
    )


def test_status_4_with_action_failed_is_soft() -> None:
    result = classify_message(
        dsn(
            "Final-Recipient: rfc822; full@example.com\nAction: failed\nStatus: 4.2.2\nDiagnostic-Code: smtp; 452 full"
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.SOFT, "dsn.status-4xx")


def test_action_delayed_is_soft_whatever_the_status() -> None:
    result = classify_message(
        dsn("Final-Recipient: rfc822; slow@example.com\nAction: delayed\nStatus: 4.4.1\nWill-Retry-Until: x")
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.SOFT, "dsn.action-delayed")
    assert result.recipients[0].action == "delayed"


def test_no_status_takes_the_diagnostic_reply_code() -> None:
    result = classify_message(
        dsn(
            "Final-Recipient: rfc822; blocked@example.com\nAction: failed\nDiagnostic-Code: 554 blocked for spam"
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "dsn.diagnostic-5xx")


def test_action_failed_without_any_code_is_hard() -> None:
    result = classify_message(dsn("Final-Recipient: rfc822; x@example.com\nAction: failed"))
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "dsn.action-failed")


def test_a_dsn_reporting_only_deliveries_is_not_a_bounce() -> None:
    result = classify_message(
        dsn("Final-Recipient: rfc822; ok@example.com\nAction: delivered\nStatus: 2.0.0")
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.NOT_BOUNCE, "dsn.delivered")
    assert result.recipients == ()


def test_mixed_recipients_report_the_failures_and_take_the_hardest_class() -> None:
    result = classify_message(
        dsn(
            "Final-Recipient: rfc822; ok@example.com\nAction: relayed\nStatus: 2.0.0",
            "Final-Recipient: rfc822; later@example.com\nAction: delayed\nStatus: 4.4.7",
            "Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1",
        )
    )
    assert result.feedback_class is FeedbackClass.HARD
    assert [(r.address, r.action) for r in result.recipients] == [
        ("later@example.com", "delayed"),
        ("gone@example.com", "failed"),
    ]


def test_original_recipient_when_there_is_no_final_recipient() -> None:
    result = classify_message(
        dsn("Original-Recipient: rfc822; <first@example.com>\nAction: failed\nStatus: 5.0.0")
    )
    assert [r.address for r in result.recipients] == ["first@example.com"]


def test_a_base64_encoded_status_part_is_read() -> None:
    result = classify_message(
        dsn("Final-Recipient: rfc822; enc@example.com\nAction: failed\nStatus: 5.2.1", encoding="base64")
    )
    assert result.feedback_class is FeedbackClass.HARD
    assert [r.address for r in result.recipients] == ["enc@example.com"]


def test_dsn_fields_written_into_a_text_part_are_read() -> None:
    raw = (
        b"From: MAILER-DAEMON@example.net\nSubject: Delivery Status Notification (Failure)\n"
        b"Content-Type: text/plain\n\n"
        b"An error occurred while trying to deliver the mail to the following recipients:\n"
        b"Technical report:\nReporting-MTA: dsn; a1.example.net\nAction: failed\n"
        b"Final-Recipient: rfc822; someone@example.jp\nStatus: 5.1.1\n"
    )
    result = classify_message(raw)
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "dsn.status-5xx")
    assert [r.address for r in result.recipients] == ["someone@example.jp"]


def test_the_sendpool_message_id_of_the_returned_headers_is_found() -> None:
    result = classify_message(
        dsn(
            "Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1",
            returned=f"From: news@tenant.example\nTo: gone@example.com\nX-Sendpool-Message-Id: {MESSAGE_ID}\n",
        )
    )
    assert result.original_message_id == MESSAGE_ID


def test_a_malformed_message_id_is_ignored() -> None:
    result = classify_message(
        dsn(
            "Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1",
            returned="To: gone@example.com\nX-Sendpool-Message-Id: not-a-uuid' OR 1=1\n",
        )
    )
    assert result.original_message_id is None
