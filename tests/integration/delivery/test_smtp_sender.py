"""The SMTP adapter against real (aiosmtpd) servers: pooling, resets after errors, TLS and AUTH."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from uuid import uuid4

import pytest

from services.delivery.adapters.smtp import SmtpOptions, SmtpSender
from services.delivery.app.ports import UnusableServer
from services.delivery.domain.mime import OutgoingMessage, compose
from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent
from tests.integration.delivery.messages import CONTENT, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink
from tests.support.egress import LOCAL_SINKS
from tests.support.infra import free_port

OPTIONS = SmtpOptions(max_connections=2, timeout_seconds=5, egress=LOCAL_SINKS)


def outgoing(to: str) -> OutgoingMessage:
    return compose(uuid4(), CONTENT, to, now=datetime.now(UTC))


@pytest.fixture
def sink():
    """A sink of each test's own: these tests count its connections."""
    with ScriptedSink() as server:
        yield server


@pytest.fixture
def secure_sink(tls_context):
    with ScriptedSink(auth=("mailer", "s3cret"), starttls=tls_context, require_starttls=True) as server:
        yield server


def sender_for(sink: ScriptedSink, **settings) -> SmtpSender:
    return SmtpSender.from_settings(
        {"host": "127.0.0.1", "port": sink.port, "encryption": "none", **settings}, OPTIONS
    )


async def sent_in_turn(sink: ScriptedSink, *recipients: str, **settings) -> list[SendOutcome]:
    """A message to each recipient, one after the other through one sender (so they may share a
    connection), which is closed after the last one."""
    sender = sender_for(sink, **settings)
    outcomes = [await sender.send(outgoing(to)) for to in recipients]
    await sender.close()
    return outcomes


async def test_accepted_message_is_sent_with_the_servers_queue_id(sink):
    to = recipient()

    [outcome] = await sent_in_turn(sink, to)

    assert isinstance(outcome, Sent)
    assert outcome.reply_code == 250
    assert outcome.vendor_message_id == "Q00001"
    [received] = sink.to(to)
    assert message_from_bytes(received.data)["To"] == to


async def test_connections_are_reused_between_messages(sink):
    outcomes = await sent_in_turn(sink, recipient(), recipient(), recipient())

    assert all(isinstance(outcome, Sent) for outcome in outcomes)
    assert sink.connections == 1


async def test_refused_recipient_resets_the_connection_for_the_next_message(sink):
    good = recipient()

    refused, accepted = await sent_in_turn(sink, recipient("bounce"), good)

    assert refused == Failed(550, "5.1.1", "5.1.1 No such user here")
    assert isinstance(accepted, Sent)
    assert len(sink.to(good)) == 1
    assert sink.connections == 1, "a refused recipient needs RSET, not a new connection"


async def test_greylisting_defers(sink):
    [outcome] = await sent_in_turn(sink, recipient("later"))

    assert outcome == Deferred(451, "4.7.1", "4.7.1 Greylisted, try again later")


async def test_421_defers_and_the_next_message_gets_a_new_connection(sink):
    closing, accepted = await sent_in_turn(sink, recipient("closing"), recipient())

    assert isinstance(closing, Deferred) and closing.reply_code == 421
    assert isinstance(accepted, Sent)
    assert sink.connections == 2


async def test_mailbox_full_after_data_defers(sink):
    [outcome] = await sent_in_turn(sink, recipient("full"))

    assert outcome == Deferred(552, "5.2.2", "5.2.2 Mailbox full")


async def test_connection_lost_after_the_message_is_deferred_as_maybe_delivered(sink):
    vanishing = recipient("vanish")

    outcome, accepted = await sent_in_turn(sink, vanishing, recipient())

    # The server never said it took it: tried again; but it did get it, hence maybe_delivered.
    assert isinstance(outcome, Deferred) and outcome.maybe_delivered and not outcome.connection_failure
    assert "connection lost after the message was transmitted" in outcome.reply_text
    assert len(sink.to(vanishing)) == 1
    assert isinstance(accepted, Sent)


async def test_replies_holding_nul_or_invalid_utf8_come_back_as_safe_text(sink):
    with_nul, mojibake = await sent_in_turn(sink, recipient("nul"), recipient("mojibake"))

    assert with_nul == Sent("NUL[31m", 250, "2.0.0 Ok: queued as NUL[31m with NULs")
    assert isinstance(mojibake, Sent)
    assert mojibake.reply_text.encode("utf-8")  # no lone surrogate left: it encodes
    assert "\ufffd" in mojibake.reply_text and "M0J1BAKE" in mojibake.reply_text


async def test_a_pooled_connection_the_server_dropped_is_replaced_without_failing_the_message(sink):
    sender = sender_for(sink)
    await sender.send(outgoing(recipient()))
    sink.drop_connections()
    good = recipient()

    outcome = await sender.send(outgoing(good))
    await sender.close()

    assert isinstance(outcome, Sent)
    assert len(sink.to(good)) == 1
    assert sink.connections == 2


async def test_nothing_listening_defers_with_the_reason():
    sender = SmtpSender.from_settings(
        {"host": "127.0.0.1", "port": free_port(), "encryption": "none"}, OPTIONS
    )

    outcome = await sender.send(outgoing(recipient()))
    await sender.close()

    assert isinstance(outcome, Deferred)
    assert outcome.reply_text.startswith("could not open a connection:")
    assert "connect" in outcome.reply_text.lower()


async def test_sends_over_starttls_with_authentication(secure_sink):
    to = recipient()

    [outcome] = await sent_in_turn(
        secure_sink, to, encryption="tls", username="mailer", password="s3cret", verify_certificate=False
    )

    assert isinstance(outcome, Sent)
    assert len(secure_sink.to(to)) == 1


async def test_sends_over_implicit_tls(tls_context):
    with ScriptedSink(implicit_tls=tls_context) as sink:
        to = recipient()

        [outcome] = await sent_in_turn(sink, to, encryption="ssl", verify_certificate=False)

        assert isinstance(outcome, Sent)
        assert len(sink.to(to)) == 1


async def test_probe_succeeds_over_starttls_with_authentication(secure_sink):
    sender = sender_for(
        secure_sink, encryption="tls", username="mailer", password="s3cret", verify_certificate=False
    )

    result = await sender.probe()

    assert result.ok, result.message
    assert result.message == "Connection successful."


async def test_probe_with_a_wrong_password_fails_with_the_reply_class(secure_sink):
    sender = sender_for(
        secure_sink, encryption="tls", username="mailer", password="wrong", verify_certificate=False
    )

    result = await sender.probe()

    assert not result.ok
    assert (
        result.message == "Connection failed: authentication failed: the server refused the login (SMTP 5xx)"
    )


async def test_probe_refuses_plain_text_when_starttls_is_required_but_not_offered(sink):
    sender = sender_for(sink, encryption="tls", username="mailer", password="s3cret")

    result = await sender.probe()

    assert not result.ok
    assert "does not offer STARTTLS" in result.message
    assert sink.handler.messages == []


async def test_probe_verifies_the_certificate_unless_told_not_to(secure_sink):
    sender = sender_for(secure_sink, encryption="tls", username="mailer", password="s3cret")

    result = await sender.probe()

    assert not result.ok
    assert "certificate did not verify" in result.message


async def test_probe_with_nothing_listening_fails_with_the_reason():
    port = free_port()
    sender = SmtpSender.from_settings({"host": "127.0.0.1", "port": port, "encryption": "none"}, OPTIONS)

    result = await sender.probe()

    assert not result.ok
    assert result.message.startswith("Connection failed: ")
    assert str(port) in result.message


def test_settings_without_a_host_are_unusable_and_say_so():
    with pytest.raises(UnusableServer, match="host: Field required"):
        SmtpSender.from_settings({"port": 25, "password": "never-shown"}, OPTIONS)


async def test_a_send_that_raises_gives_its_connection_back_so_the_next_messages_still_go_out(sink):
    """An error nobody foresaw, mid-transaction (here the client refusing a non-ASCII envelope
    sender): the connection is closed and its place in the pool freed, or after as many such
    errors as the pool has connections, no message to the server could be sent at all."""
    sender = SmtpSender.from_settings(
        {"host": "127.0.0.1", "port": sink.port, "encryption": "none"},
        SmtpOptions(max_connections=1, timeout_seconds=5, egress=LOCAL_SINKS),
    )
    broken = replace(outgoing(recipient()), envelope_from="bouncé@shop.example")
    to = recipient()

    for _ in range(2):  # (a slot kept would leave the second waiting for a connection for good)
        with pytest.raises(UnicodeEncodeError):
            await asyncio.wait_for(sender.send(broken), 5)
    outcome = await asyncio.wait_for(sender.send(outgoing(to)), 5)
    await sender.close()

    assert isinstance(outcome, Sent)
    assert len(sink.to(to)) == 1
