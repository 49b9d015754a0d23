"""The bounce mail endpoint of a running bounces service, over real sockets: a DSN to a VERP address
ends in a suppression and a `bounced` event on RabbitMQ; forged tokens, oversized mail, too many
sessions and garbage are handled as a real MX handles them."""

import asyncio
from uuid import UUID, uuid4

import aiosmtplib
import pytest
from faststream.rabbit import RabbitBroker

from shared.contracts import MessageStatus, StatusBatch, StatusEvent
from shared.topology import STATUS_EXCHANGE
from shared.verp import verp_address, verp_token
from tests.integration.bounces.conftest import MAIL_MAX_BYTES, SMTP_MAX_SESSIONS
from tests.integration.bounces.feedback_support import feedback_rows, sent_event, suppressions_of
from tests.support.waiting import eventually_async


def dsn(recipient: str, *, status: str = "5.1.1", message_id: UUID | None = None) -> bytes:
    """An RFC 3464 delivery status notification, as a receiving MTA writes it."""
    boundary = f"b{uuid4().hex}"
    returned = f"X-Sendpool-Message-Id: {message_id}\r\n" if message_id else ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: <bounces@return.example>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid4()}@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to {recipient}.\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mailstore.example.net\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown\r\n"
        f"\r\n--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{returned}"
        "From: news@sender.example\r\n"
        f"To: {recipient}\r\n"
        "Subject: Hello\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()


async def publish_sent(amqp_url: str, event: StatusEvent) -> None:
    broker = RabbitBroker(amqp_url, logger=None)
    async with broker:
        await broker.start()
        batch = StatusBatch.of([event])[0]
        await broker.publish(
            batch.model_dump_json().encode(),
            exchange=STATUS_EXCHANGE,
            routing_key=batch.routing_key,
            content_type="application/json",
        )


async def a_sent_message(bounces_env, bounces_db, recipient: str) -> StatusEvent:
    """A message the service heard was sent (its `sent` event, through RabbitMQ)."""
    event = sent_event(recipient)
    await publish_sent(bounces_env["SENDPOOL_AMQP_URL"], event)

    async def remembered() -> bool:
        return bool(
            await bounces_db.pool.fetchval(
                "SELECT 1 FROM sent_messages WHERE message_id = $1", event.message_id
            )
        )

    await eventually_async(
        remembered, timeout_seconds=15, interval_seconds=0.1, what="the sent message remembered"
    )
    return event


async def send(port: int, recipients: list[str], data: bytes, *, sender: str = "<>") -> tuple[int, str]:
    """One mail over SMTP; the answer to its DATA (or the error code that ended it)."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, local_hostname="mx.example.net")
    await client.connect()
    try:
        await client.mail(sender if sender != "<>" else "")
        for recipient in recipients:
            await client.rcpt(recipient)
        response = await client.data(data)
        return response.code, response.message
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code, refused.message
    finally:
        client.close()


async def next_event(listener, message_id: UUID) -> StatusEvent:
    async def found() -> StatusEvent | None:
        for body in await listener.waiting():
            for event in StatusBatch.model_validate_json(body).events:
                if event.message_id == message_id:
                    return event
        return None

    return await eventually_async(found, timeout_seconds=20, interval_seconds=0.1, what="the bounced event")


async def test_a_dsn_to_a_verp_address_suppresses_the_recipient_and_says_bounced(
    bounces_env, bounces_db, smtp_port, status_listener
):
    sent = await a_sent_message(bounces_env, bounces_db, f"gone-{uuid4().hex[:6]}@example.org")
    secret = bounces_env["SENDPOOL_VERP_SECRET"]

    code, _ = await send(
        smtp_port, [verp_address(sent.message_id, "return.example", secret)], dsn(sent.recipient)
    )

    assert code == 250
    [row] = await feedback_rows(bounces_db, message_id=sent.message_id)
    assert (row["class"], row["status_code"], row["recipient_mismatch"]) == ("hard", "5.1.1", False)
    assert row["details"]["verp"] == "verified"
    assert (await suppressions_of(bounces_db, sent.tenant_id))[sent.recipient]["source"] == "bounce"
    event = await next_event(status_listener, sent.message_id)
    assert (event.status, event.feedback_class, event.enhanced_code) == (
        MessageStatus.BOUNCED,
        "hard",
        "5.1.1",
    )


async def test_the_token_is_read_whatever_the_case_and_the_domain(bounces_env, bounces_db, smtp_port):
    sent = await a_sent_message(bounces_env, bounces_db, f"case-{uuid4().hex[:6]}@example.org")
    token = verp_token(sent.message_id, bounces_env["SENDPOOL_VERP_SECRET"]).upper()

    code, _ = await send(smtp_port, [f"BOUNCES+{token}@Other-Domain.example"], dsn(sent.recipient))

    assert code == 250
    assert sent.recipient in await suppressions_of(bounces_db, sent.tenant_id)


async def test_a_forged_token_is_accepted_and_kept_but_acts_on_nothing(bounces_env, bounces_db, smtp_port):
    sent = await a_sent_message(bounces_env, bounces_db, f"target-{uuid4().hex[:6]}@example.org")
    forged = verp_address(sent.message_id, "return.example", "not-the-secret-of-this-installation")
    # The returned headers name the message too: nothing in a mail to a forged token is believed.
    mail = dsn(sent.recipient, message_id=sent.message_id)

    code, _ = await send(smtp_port, [forged], mail)

    assert code == 250
    rows = await bounces_db.pool.fetch(
        "SELECT * FROM feedback WHERE details->>'envelope_recipient' = $1", forged.lower()
    )
    assert [(r["message_id"], r["claimed_message_id"], r["original_message_id"]) for r in rows] == [
        (None, None, None)
    ]
    assert rows[0]["details"]["verp"] == "forged"
    assert await suppressions_of(bounces_db, sent.tenant_id) == {}


async def test_only_verp_addresses_are_taken(smtp_port):
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=smtp_port, timeout=10, local_hostname="mx.example.net"
    )
    await client.connect()
    try:
        await client.mail("")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("postmaster@return.example")
        assert refused.value.code == 550
    finally:
        client.close()


async def test_a_mail_over_the_size_limit_is_refused_with_552(bounces_env, smtp_port):
    address = verp_address(uuid4(), "return.example", bounces_env["SENDPOOL_VERP_SECRET"])
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (MAIL_MAX_BYTES // 1000 + 10)

    code, _ = await send(smtp_port, [address], big)

    assert code == 552


async def test_one_session_more_than_the_cap_is_answered_421_on_connect(smtp_port):
    held = []
    try:
        for _ in range(SMTP_MAX_SESSIONS):
            reader, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
            assert (await reader.readline()).startswith(b"220")
            held.append(writer)
        reader, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
        greeting = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert greeting.startswith(b"421")
    finally:
        for writer in held:
            writer.close()
    # Once the sessions are gone, the endpoint takes mail again.
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
    assert (await reader.readline()).startswith(b"220")
    writer.close()


async def test_garbage_never_brings_the_endpoint_down(bounces_env, bounces_db, smtp_port):
    for garbage in [
        b"\x00\xff\xfe" * 3000 + b"\r\n",
        b"EHLO " + b"a" * 5000 + b"\r\n",
        b"MAIL FROM:<\x00>\r\nRCPT TO:<bounces+\xff@x>\r\nDATA\r\n",
        b"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<bounces+zz@x>\r\nDATA\r\n\xc3\x28\x00 not a mail at all\r\n.\r\nQUIT\r\n",
    ]:
        reader, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
        await reader.readline()
        writer.write(garbage)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
    address = verp_address(uuid4(), "return.example", bounces_env["SENDPOOL_VERP_SECRET"])

    code, _ = await send(smtp_port, [address], b"\x00\x01 binary \xff\r\nno headers at all\r\n")

    assert code == 250, "a valid session after the garbage is still served, and odd mail is kept"


async def test_copies_of_one_dsn_act_once(bounces_env, bounces_db, smtp_port):
    sent = await a_sent_message(bounces_env, bounces_db, f"twice-{uuid4().hex[:6]}@example.org")
    address = verp_address(sent.message_id, "return.example", bounces_env["SENDPOOL_VERP_SECRET"])
    mail = dsn(sent.recipient)

    assert (await send(smtp_port, [address], mail))[0] == 250
    assert (await send(smtp_port, [address], mail))[0] == 250

    assert len(await feedback_rows(bounces_db, message_id=sent.message_id)) == 1
