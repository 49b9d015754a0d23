"""Auto-replies (RFC 3834, vacation, out-of-office) are never bounces, even when they mention one."""

import pytest

from services.bounces.domain.classify import classify_message
from shared.contracts import FeedbackClass


def reply(headers: str, body: str = "I am away until Monday and will answer then.") -> bytes:
    text = f"From: Reader <reader@example.com>\nTo: news@tenant.example\n{headers}\n\n{body}\n"
    return text.replace("\n", "\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ("Subject: Re: Big sale\nAuto-Submitted: auto-replied", "autoreply.rfc3834"),
        ("Subject: Re: Big sale\nAuto-Submitted: auto-replied (vacation)", "autoreply.rfc3834"),
        ("Subject: Re: Big sale\nX-Autoreply: yes", "autoreply.x-autoreply"),
        ("Subject: Re: Big sale\nX-Autorespond: Big sale", "autoreply.x-autoreply"),
        ("Subject: Re: Big sale\nPrecedence: auto_reply", "autoreply.precedence"),
        ("Subject: Out of Office: Big sale", "autoreply.subject"),
        ("Subject: Automatic reply: Big sale", "autoreply.subject"),
        ("Subject: Automatische Antwort: Big sale", "autoreply.subject"),
        ("Subject: =?utf-8?q?R=C3=A9ponse_automatique=3A_Big_sale?=", "autoreply.subject"),
        ("Subject: I am on vacation", "autoreply.subject"),
    ],
)
def test_auto_reply_marks(headers: str, rule: str) -> None:
    result = classify_message(reply(headers))
    assert (result.feedback_class, result.rule) == (FeedbackClass.AUTO_REPLY, rule)
    assert result.recipients == ()


def test_an_auto_reply_that_talks_of_undelivered_mail_is_still_an_auto_reply() -> None:
    result = classify_message(
        reply(
            "Subject: Automatic reply: Big sale\nAuto-Submitted: auto-replied\nReturn-Path: <>",
            "My old mailbox is full and mail to it could not be delivered; write to me@new.example. 550",
        )
    )
    assert result.feedback_class is FeedbackClass.AUTO_REPLY


def test_a_bounce_carrying_auto_submitted_is_a_bounce() -> None:
    """Exim and Gmail mark their bounces `Auto-Submitted: auto-replied`: X-Failed-Recipients wins."""
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nTo: bounces+t@bounce.sendpool.test\n"
        b"Subject: Mail delivery failed: returning message to sender\nAuto-Submitted: auto-replied\n"
        b"X-Failed-Recipients: gone@example.org\n\n"
        b"This message was created automatically by mail delivery software.\n\n"
        b"A message that you sent could not be delivered to one or more of its\n"
        b"recipients. This is a permanent error. The following address(es) failed:\n\n"
        b"  gone@example.org\n    SMTP error from remote mail server after RCPT TO:<gone@example.org>:\n"
        b"    host mx.example.org [192.0.2.1]: 550 5.1.1 User unknown\n"
    )
    result = classify_message(raw)
    assert (result.feedback_class, result.rule) == (FeedbackClass.HARD, "text.smtp-5xx")
    assert [r.address for r in result.recipients] == ["gone@example.org"]


def test_auto_submitted_postmaster_prose_without_any_code_is_unknown() -> None:
    """Marked as an automatic answer, failure only in prose: nothing to act on, never a bounce."""
    raw = (
        b"From: postmaster@example.de\nSubject: email bounce notification\nAuto-Submitted: auto-replied\n\n"
        b"Your message was rejected.\nreject reason: Mailbox full\ntarget mail address: reader@example.de\n"
    )
    result = classify_message(raw)
    assert (result.feedback_class, result.rule) == (
        FeedbackClass.UNKNOWN,
        "autoreply.rfc3834.unconfirmed-failure",
    )


def test_auto_generated_mail_is_not_an_auto_reply() -> None:
    result = classify_message(reply("Subject: Your weekly digest\nAuto-Submitted: auto-generated", "News."))
    assert (result.feedback_class, result.rule) == (FeedbackClass.NOT_BOUNCE, "no-feedback")


@pytest.mark.parametrize(
    "body",
    [
        "Hello, I am currently out of the office until 3 May with limited access to email.",
        "Thank you. I'm on vacation and will reply to your message when I return.",
        "Ich bin bis zum 3. Mai nicht im Büro.",
    ],
)
def test_an_unmarked_out_of_office_answer_is_an_auto_reply_by_its_words(body: str) -> None:
    result = classify_message(reply("Subject: Re: Big sale", body))
    assert (result.feedback_class, result.rule) == (FeedbackClass.AUTO_REPLY, "autoreply.body")
