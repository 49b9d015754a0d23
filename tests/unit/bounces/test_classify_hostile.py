"""Anyone can send mail to the bounce endpoint: the classifier never raises and does bounded work
on huge, deeply nested, binary or headerless input."""

import os
import time

import pytest

from services.bounces.domain import classify
from services.bounces.domain.classify import classify_message
from services.bounces.domain.parsing import mime
from shared.contracts import FeedbackClass

# Generous: a 10 MB mail takes well under a second here; the point is "not seconds per mail".
TIME_LIMIT_SECONDS = 3.0


def _nested_multiparts(depth: int) -> bytes:
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for level in range(1, depth):
        raw += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level - 1, level)
    return raw


HOSTILE = {
    "ten megabytes of bounce text": (
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail\r\n\r\n"
        + b"550 5.1.1 <gone@example.com> user unknown, could not be delivered\r\n" * 150_000
    ),
    "one ten megabyte line": b"From: a@example.com\r\n\r\n" + b"x" * 10_000_000,
    "ten megabytes of at-signs": b"From: a@example.com\r\n\r\n" + b"a@" * 5_000_000,
    "ten megabytes of dotted digits": b"From: a@example.com\r\n\r\n" + b"5.5.5." * 1_700_000,
    "3000 nested multiparts": _nested_multiparts(3000),
    "3000 nested message/rfc822": b"Content-Type: message/rfc822\r\n\r\n" * 3000,
    "200000 parts": b"Content-Type: multipart/mixed; boundary=q\r\n\r\n"
    + b"--q\r\nContent-Type: text/plain\r\n\r\nuser unknown\r\n" * 200_000,
    "100000 recipient blocks": b"Content-Type: multipart/report; boundary=q\r\n\r\n--q\r\n"
    b"Content-Type: message/delivery-status\r\n\r\n"
    + b"Final-Recipient: rfc822; a@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    * 100_000,
    "200000 headers": b"".join(b"X-H%d: y\r\n" % i for i in range(200_000)) + b"\r\n",
    "a five megabyte header": b"Subject: " + b"x" * 5_000_000 + b"\r\n\r\n",
    "two million folded lines": b"Subject: x" + b"\r\n x" * 2_000_000 + b"\r\n\r\n",
    "unclosed tags": b"Content-Type: text/html\r\n\r\n" + b"<style" * 2_000_000,
    "deep json": b'From: a@example.com\r\n\r\n{"notificationType":' + b"[" * 1_000_000,
    "binary garbage": os.urandom(10_000_000),
    "empty": b"",
    "no headers at all": b"\r\n\r\nuser unknown 550\r\n",
    "headers only, no body": b"From: MAILER-DAEMON@x\r\nSubject: failure notice",
    "bad charset and encoding": b"Content-Type: text/plain; charset=no-such-charset\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
    "nul bytes and bare CRs": b"From: a\x00b\rSubject: \xff\xfe\r\r\n\r\n\x00\x00",
    "multipart without boundary": b"Content-Type: multipart/report\r\n\r\n--x\r\nAction: failed\r\n",
    "broken encoded words": b"From: =?utf-8?b?####?= <=?x?q?=ZZ?=@x>\r\nSubject: =?unknown?B?AAAA?=\r\n\r\nhi",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_input_never_raises_and_is_bounded(name: str) -> None:
    started = time.perf_counter()
    result = classify_message(HOSTILE[name])
    elapsed = time.perf_counter() - started
    assert isinstance(result.feedback_class, FeedbackClass)
    assert elapsed < TIME_LIMIT_SECONDS, f"{name} took {elapsed:.2f}s"
    assert len(result.recipients) <= 100
    assert all(len(report.diagnostic) <= 500 for report in result.recipients)


def test_only_the_first_part_of_a_huge_mail_is_parsed() -> None:
    """A DSN part beyond the parse limit is not read: the limit holds whatever the mail says."""
    padding = b"x" * (mime.MAX_MAIL_BYTES + 10)
    raw = (
        b"Content-Type: multipart/report; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\n"
        + padding
        + b"\r\n--q\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Final-Recipient: rfc822; late@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--q--\r\n"
    )
    assert classify_message(raw).recipients == ()


def test_an_unexpected_parser_failure_is_unknown_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(raw: bytes) -> mime.Mail:
        raise MemoryError("the parser broke")

    monkeypatch.setattr(classify, "read_mail", explode)
    result = classify_message(b"From: a@example.com\r\n\r\nhi")
    assert (result.feedback_class, result.rule) == (FeedbackClass.UNKNOWN, "parse-error")
