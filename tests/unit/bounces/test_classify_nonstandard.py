"""Bounces without DSN fields (prose notices of MTAs), SES notifications by mail, and the table from
codes and phrases to hard or soft."""

import json

import pytest

from services.bounces.domain.classify import classify_message
from services.bounces.domain.parsing.codes import PHRASES, enhanced_code, phrase_verdict, reply_code
from shared.contracts import FeedbackClass


def notice(sender: str, subject: str, body: str) -> bytes:
    text = f"From: {sender}\nTo: bounces+token@bounce.sendpool.test\nSubject: {subject}\n\n{body}\n"
    return text.replace("\n", "\r\n").encode()


QMAIL = notice(
    "MAILER-DAEMON@mx.example.jp",
    "failure notice",
    "Hi. This is the qmail-send program at mx.example.jp.\n"
    "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<gone@example.ne.jp>:\n192.0.2.3 does not like recipient.\n"
    "Remote host said: 550 5.1.1 <gone@example.ne.jp>: Recipient address rejected: User unknown\n"
    "Giving up on 192.0.2.3.\n\n--- Below this line is a copy of the message.\n\n"
    "Return-Path: <bounces+token@bounce.sendpool.test>\nFrom: news@tenant.example\n"
    "To: gone@example.ne.jp\nX-Sendpool-Message-Id: 6f1c2d3e-0000-4000-8000-000000000001\n\nBuy!\n",
)


def test_qmail_bounce_is_hard_with_recipient_code_and_message_id() -> None:
    result = classify_message(QMAIL)
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "text.smtp-5xx")
    (report,) = result.recipients
    assert (report.address, report.status, report.action) == ("gone@example.ne.jp", "5.1.1", "failed")
    assert report.diagnostic.startswith("Remote host said: 550 5.1.1")
    assert str(result.original_message_id) == "6f1c2d3e-0000-4000-8000-000000000001"


def test_exim_delay_warning_is_soft() -> None:
    result = classify_message(
        notice(
            "Mail Delivery System <Mailer-Daemon@mx.example.com>",
            "Warning: message 1abc-22 delayed 24 hours",
            "A message that you sent has not yet been delivered to one or more of its\n"
            "recipients after more than 24 hours on the queue on mx.example.com.\n\n"
            "The address to which the message has not yet been delivered is:\n\n  slow@example.net\n"
            "    Delay reason: SMTP error from remote mail server after MAIL FROM:<x@tenant.example>:\n"
            "    450 service temporarily unavailable\n",
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.SOFT, "text.delayed")
    assert [(r.address, r.action) for r in result.recipients] == [("slow@example.net", "delayed")]


def test_exchange_ndr_without_code_is_hard_by_phrase() -> None:
    result = classify_message(
        notice(
            "System Administrator <postmaster@example.com>",
            "Undeliverable: Big sale",
            "Your message\n  To:      gone@example.jp\n  Subject: Big sale\n\n"
            "did not reach the following recipient(s):\n\ngone@example.jp on Thu, 29 Apr 2010\n"
            "    The recipient name is not recognized\n",
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "text.user-unknown")
    assert [r.address for r in result.recipients] == ["gone@example.jp"]


def test_postfix_without_dsn_skips_the_help_desk_address() -> None:
    result = classify_message(
        notice(
            "MAILER-DAEMON@smtp.example.ne.jp",
            "Undelivered Mail Returned to Sender",
            "This is the Postfix program at host smtp.example.ne.jp.\n\n"
            "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n"
            "For further assistance, please contact <support@isp.example>\n\n"
            "<gone@user.example.or.jp>: host mx.user.example.or.jp[192.0.2.22] said: 550\n"
            "    <gone@user.example.or.jp>: User unknown (in reply to RCPT TO command)\n",
        )
    )
    assert result.feedback_class is FeedbackClass.HARD
    assert [r.address for r in result.recipients] == ["gone@user.example.or.jp"]


def test_mailbox_full_in_prose_is_soft() -> None:
    result = classify_message(
        notice(
            "no-reply@mail.example.jp",
            "Mail error",
            "Your mail sent on: Thu, 29 Apr 2013\n     Could not be delivered to: <full@example.jp>\n"
            "     As their mailbox is full.\n",
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.SOFT, "text.mailbox-full")
    assert [r.address for r in result.recipients] == ["full@example.jp"]


def test_ses_bounce_notification_mailed_by_sns() -> None:
    event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [
                {
                    "emailAddress": "Gone@Example.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        },
    }
    result = classify_message(
        notice("SES <no-reply@sns.amazonaws.com>", "AWS Notification Message", json.dumps(event))
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "ses-notification.permanent")
    assert [(r.address, r.status) for r in result.recipients] == [("gone@example.com", "5.1.1")]


def test_ordinary_mail_is_not_a_bounce() -> None:
    result = classify_message(
        notice(
            "Reader <reader@example.com>", "Re: Big sale", "Was the order returned? It says delivery failed."
        )
    )
    assert (result.feedback_class, result.rule) == (FeedbackClass.NOT_BOUNCE, "no-feedback")


def test_mailer_daemon_saying_nothing_readable_is_unknown() -> None:
    result = classify_message(notice("MAILER-DAEMON@mx.example.net", "Hello", "Nyaan."))
    assert (result.feedback_class, result.rule) == (FeedbackClass.UNKNOWN, "daemon-without-verdict")


@pytest.mark.parametrize(
    ("text", "enhanced", "reply"),
    [
        ("550 5.1.1 <a@b.example>: User unknown", "5.1.1", "550"),
        ("host 192.0.2.4 said: 452 4.2.2 over quota", "4.2.2", "452"),
        ("(#5.5.0)", "5.5.0", ""),
        ("from 192.0.2.135:25 socket error", "", ""),
        ("421-4.7.0 try later", "4.7.0", "421"),
        ("delivered with 250 2.0.0 OK", "", ""),
    ],
)
def test_codes_are_found_but_not_inside_addresses(text: str, enhanced: str, reply: str) -> None:
    assert (enhanced_code(text), reply_code(text)) == (enhanced, reply)


PHRASE_ROWS = {
    "user-unknown": "550 sorry, no such user here",
    "mailbox-disabled": "the account has been disabled",
    "host-unknown": "Host not found",
    "mailbox-full": "the recipient's mailbox is full",
    "message-too-large": "Mail size limit exceeded",
    "policy-block": "rejected: listed on a blocklist",
    "expired": "retry timeout exceeded",
    "permanent": "This has been a permanent failure.",
}


@pytest.mark.parametrize(("name", "feedback_class", "pattern"), PHRASES, ids=[row[0] for row in PHRASES])
def test_every_phrase_row_has_an_example(name: str, feedback_class: FeedbackClass, pattern: object) -> None:
    assert phrase_verdict(PHRASE_ROWS[name]) == (feedback_class, name)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_line_endings_do_not_change_the_verdict(line_end: bytes) -> None:
    result = classify_message(QMAIL.replace(b"\r\n", line_end))
    assert (result.feedback_class, [r.address for r in result.recipients]) == (
        FeedbackClass.HARD,
        ["gone@example.ne.jp"],
    )
    assert str(result.original_message_id) == "6f1c2d3e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Unzustellbar: Angebot", "Ihre Nachricht konnte nicht zugestellt werden an: weg@example.de"),
        ("Non remis : Offre", "Votre message n'a pas pu être remis à : parti@example.fr"),
        ("Returned mail", "以下のアドレスへ送信できませんでした。 nobody@example.jp"),
    ],
)
def test_bounces_in_other_languages(subject: str, text: str) -> None:
    result = classify_message(notice("postmaster@mx.example.net", subject, text))
    assert result.feedback_class in (FeedbackClass.HARD, FeedbackClass.SOFT)
