"""The e2e tests' bouncing SMTP sink: the DSNs it writes are RFC 3464 reports Python's `email`
package reads back field by field, and it delivers them, after its 250, to a real SMTP receiver."""

import email
import smtplib
import time
from email.message import EmailMessage
from email.policy import SMTP, default

from tests.support.bounce_sink import BounceSink, delivery_status_notification, one_in_ten
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

RETURN_PATH = "bounces+" + "a" * 48 + "@sender.example"


def original(recipient: str, message_id: str = "6f1c2d3e-0000-4000-8000-000000000001") -> bytes:
    message = EmailMessage()
    message["From"] = "news@sender.example"
    message["To"] = recipient
    message["Subject"] = "Hello"
    message["X-Sendpool-Message-Id"] = message_id
    message.set_content("Hello there")
    return message.as_bytes(policy=SMTP)


def send(port: int, recipients: list[str], mail_from: str = RETURN_PATH) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for recipient in recipients:
            client.sendmail(mail_from, [recipient], original(recipient))


def test_a_dsn_is_a_multipart_report_with_the_rfc_3464_fields_and_the_returned_headers():
    raw = delivery_status_notification(
        original("gone@example.org"), "gone@example.org", RETURN_PATH
    ).as_bytes(policy=SMTP)
    dsn = email.message_from_bytes(raw, policy=default)

    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["To"] == RETURN_PATH
    human, status, headers = dsn.get_payload()
    assert human.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = status.get_payload()
    assert per_message["Reporting-MTA"].startswith("dns; ")
    assert per_recipient["Final-Recipient"] == "rfc822; gone@example.org"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 user unknown"
    assert headers.get_content_type() == "text/rfc822-headers"
    returned = email.message_from_string(headers.get_content(), policy=default)
    assert returned["X-Sendpool-Message-Id"] == "6f1c2d3e-0000-4000-8000-000000000001"
    assert returned["To"] == "gone@example.org"
    assert b"\r\n" in raw and not raw.replace(b"\r\n", b"").count(b"\n"), "CRLF line ends only"


def test_one_in_ten_picks_about_a_tenth_and_the_same_addresses_every_time():
    addresses = [f"user{n:06d}@example.com" for n in range(10_000)]
    picked = [a for a in addresses if one_in_ten(a)]
    assert 900 <= len(picked) <= 1100
    assert picked == [a for a in addresses if one_in_ten(a.upper())], "case does not change the pick"


def test_the_sink_accepts_everything_and_sends_dsns_for_the_picked_recipients_with_a_null_sender():
    bouncing = {"b1@example.org", "b2@example.org"}
    with (
        SmtpSink() as endpoint,
        BounceSink(("127.0.0.1", endpoint.port), bounces=bouncing.__contains__) as sink,
    ):
        send(sink.port, ["ok1@example.org", "b1@example.org", "ok2@example.org", "b2@example.org"])
        assert len(sink.messages) == 4, "every message is accepted"
        sink.drain(timeout=20)

        assert sink.bounced_recipients == bouncing
        assert sink.undelivered == []
        received = endpoint.messages
        assert len(received) == 2
        for message in received:
            assert message.mail_from == "<>", "MAIL FROM:<>, as every DSN (aiosmtpd records it so)"
            assert message.rcpt_tos == [RETURN_PATH]
        reported = {
            email.message_from_bytes(m.data, policy=default)
            .get_payload()[1]
            .get_payload()[1]["Final-Recipient"]
            for m in received
        }
        assert reported == {f"rfc822; {r}" for r in bouncing}
        assert {d.sendpool_message_id for d in sink.dsns} == {"6f1c2d3e-0000-4000-8000-000000000001"}


def test_a_bounce_itself_is_never_bounced():
    """Mail with a null sender (a DSN) has nobody to bounce to: a real MTA drops its failure."""
    with SmtpSink() as endpoint, BounceSink(("127.0.0.1", endpoint.port), bounces=lambda _: True) as sink:
        send(sink.port, ["b1@example.org"], mail_from="")
        sink.drain(timeout=5)
        assert len(sink.messages) == 1
        assert sink.dsns == [] and sink.undelivered == [] and endpoint.messages == []


def test_a_dsn_waits_for_an_endpoint_that_is_not_listening_yet():
    endpoint = SmtpSink()
    with BounceSink(("127.0.0.1", endpoint.port), bounces=lambda _: True, retry_seconds=20) as sink:
        send(sink.port, ["late@example.org"])
        time.sleep(1.0)
        assert sink.dsns == [], "nothing listens yet"
        with endpoint:
            sink.drain(timeout=20)
            assert sink.bounced_recipients == {"late@example.org"}
            assert sink.dsns[0].attempts > 1
            assert len(endpoint.messages) == 1


def test_a_dsn_the_endpoint_refuses_for_good_is_given_up_and_recorded():
    with (
        SmtpSink(reply="554 5.7.1 no thanks") as endpoint,
        BounceSink(("127.0.0.1", endpoint.port), bounces=lambda _: True) as sink,
    ):
        send(sink.port, ["refused@example.org"])
        sink.drain(timeout=20)
        assert sink.dsns == []
        [undelivered] = sink.undelivered
        assert undelivered.recipient == "refused@example.org" and undelivered.attempts == 1
        assert "554" in undelivered.error


def test_a_dsn_whose_recipient_the_endpoint_refuses_for_good_is_given_up_at_once():
    with SmtpSink() as endpoint, BounceSink(("127.0.0.1", endpoint.port), bounces=lambda _: True) as sink:

        async def refuse(server, session, envelope, address, rcpt_options):
            return "550 5.1.1 no such bounce address"

        endpoint.handler.handle_RCPT = refuse  # type: ignore[attr-defined]
        send(sink.port, ["refused@example.org"])
        sink.drain(timeout=20)
        [undelivered] = sink.undelivered
        assert undelivered.attempts == 1 and "550" in undelivered.error


def test_a_dsn_is_sent_after_the_250_not_before():
    """The sender's session is over when the bounce goes out: a slow endpoint never holds it up."""
    with (
        SmtpSink(delay=2.0) as endpoint,
        BounceSink(("127.0.0.1", endpoint.port), bounces=lambda _: True) as sink,
    ):
        started = time.monotonic()
        send(sink.port, ["slow@example.org"])
        assert time.monotonic() - started < 1.5
        eventually(lambda: sink.dsns, timeout_seconds=20, interval_seconds=0.1, what="the DSN")


def test_no_endpoint_bounces_nothing():
    with BounceSink(None) as sink:
        send(sink.port, ["b1@example.org"])
        sink.drain(timeout=5)
        assert len(sink.messages) == 1 and sink.dsns == []
