"""The delivery worker as a process: per-server queues in, SMTP out, status events and retries out."""

import asyncio
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from shared.contracts import utcnow
from shared.messaging import DEAD_REASON_HEADER, SOURCE_QUEUE_HEADER
from shared.topology import delivery_queue_name
from shared.unsubscribe import UnsubscribeClaim, verify_unsubscribe_token
from shared.verp import parse_verp
from tests.integration.delivery.conftest import MAX_ATTEMPTS, VERP_SECRET
from tests.integration.delivery.harness import eventually
from tests.integration.delivery.messages import delivery_requested, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink

pytestmark = pytest.mark.usefixtures("worker")

SETTLE_SECONDS = 1.0
"""How long to keep watching before concluding that something did not happen."""


def queue_of(server_id) -> str:
    return delivery_queue_name("smtp", server_id)


def plain_settings(sink: ScriptedSink) -> dict:
    return {"host": "127.0.0.1", "port": sink.port, "encryption": "none"}


async def test_message_is_sent_once_with_its_headers_and_reported_sent(bus, sink, server_id, service_env):
    to = recipient()
    request = delivery_requested(server_id, to)
    message_id = request.send.message_id

    await bus.publish_to_queue(request, queue_of(server_id))
    sent = await bus.wait_for_status(message_id, "sent")

    [received] = sink.to(to)
    assert received.mail_from.endswith("@shop.example"), "bounces go to the From domain without an identity"
    assert parse_verp(received.mail_from, VERP_SECRET) == message_id
    assert b"\r\n" in received.data and b"\n" not in received.data.replace(b"\r\n", b"")
    email = message_from_bytes(received.data, policy=default_policy)
    assert email["From"] == "Shop News <news@shop.example>"
    assert email["To"] == f"Ada Reader <{to}>"
    assert email["Subject"] == "Spring sale"
    assert email["Message-ID"] == f"<{message_id}@shop.example>"
    assert email["Reply-To"] == "help@shop.example"
    # Sendpool's own one-click link, signed for this recipient, in place of the content's URL.
    link = email["List-Unsubscribe"]
    prefix = f"<{service_env['SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL']}/unsubscribe/"
    assert link.startswith(prefix) and link.endswith(">"), link
    claim = verify_unsubscribe_token(link[len(prefix) : -1], [service_env["SENDPOOL_UNSUBSCRIBE_SECRET"]])
    assert claim == UnsubscribeClaim(request.send.tenant_id, request.send.campaign_id, message_id, to)
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["X-Sendpool-Message-Id"] == str(message_id)
    assert email["Date"] is not None
    assert email.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]
    assert email.get_body(("html",)).get_content().strip() == "<p>Everything is <b>20%</b> off.</p>"

    assert (sent.server_id, sent.vendor, sent.reply_code) == (server_id, "smtp", 250)
    assert sent.vendor_message_id.startswith("Q")
    assert (sent.tenant_id, sent.campaign_id, sent.run_id) == (
        request.send.tenant_id,
        request.send.campaign_id,
        request.send.run_id,
    )
    assert sent.recipient == to and sent.attempt == 1


async def test_a_redelivered_sent_message_is_not_sent_again_and_its_status_is_republished(
    bus, sink, server_id
):
    to = recipient()
    request = delivery_requested(server_id, to)
    await bus.publish_to_queue(request, queue_of(server_id))
    first = await bus.wait_for_status(request.send.message_id, "sent")

    await bus.publish_to_queue(request, queue_of(server_id))
    await bus.statuses.wait_for(lambda event: len(bus.status_of(request.send.message_id, "sent")) == 2)

    assert len(sink.to(to)) == 1
    again = bus.status_of(request.send.message_id, "sent")[1]
    assert again.vendor_message_id == first.vendor_message_id


async def test_copies_racing_each_other_are_sent_once(bus, sink, server_id):
    to = recipient()
    request = delivery_requested(server_id, to)

    await asyncio.gather(*(bus.publish_to_queue(request, queue_of(server_id)) for _ in range(3)))
    await bus.wait_for_status(request.send.message_id, "sent")
    await asyncio.sleep(SETTLE_SECONDS)

    assert len(sink.to(to)) == 1
    assert bus.status_of(request.send.message_id, "unknown") == [], "a copy in flight is no lost send"


async def test_permanent_refusal_is_reported_failed(bus, sink, server_id):
    to = recipient("bounce")
    request = delivery_requested(server_id, to)

    await bus.publish_to_queue(request, queue_of(server_id))
    failed = await bus.wait_for_status(request.send.message_id, "failed")

    assert (failed.reply_code, failed.enhanced_code) == (550, "5.1.1")
    assert "No such user" in failed.reply_text
    assert sink.to(to) == []


async def test_temporary_refusal_is_deferred_and_routed_again_after_the_delay(bus, server_id):
    request = delivery_requested(server_id, recipient("later"))
    message_id = request.send.message_id

    await bus.publish_to_queue(request, queue_of(server_id))
    deferred = await bus.wait_for_status(message_id, "deferred")
    deferred_seen = asyncio.get_running_loop().time()
    retry = await bus.rerouted.wait_for(lambda send: send.message_id == message_id)
    waited = asyncio.get_running_loop().time() - deferred_seen

    assert (deferred.reply_code, deferred.enhanced_code) == (451, "4.7.1")
    assert deferred.retry_at is not None and deferred.retry_at > deferred.occurred_at
    assert retry.attempt == 2
    assert retry.avoid_server_ids == [server_id]
    assert retry.content == request.send.content and retry.first_attempt_at == request.send.first_attempt_at
    assert waited >= 0.5, "the retry must wait in the delay queue, not come straight back"


async def test_a_message_deferred_on_its_last_attempt_is_reported_failed(bus, server_id):
    request = delivery_requested(server_id, recipient("later"), attempt=MAX_ATTEMPTS)

    await bus.publish_to_queue(request, queue_of(server_id))
    failed = await bus.wait_for_status(request.send.message_id, "failed")

    assert failed.reply_code == 451
    assert f"gave up: deferred on each of {MAX_ATTEMPTS} attempts" in failed.reply_text
    await asyncio.sleep(SETTLE_SECONDS)
    assert bus.rerouted.matching(lambda send: send.message_id == request.send.message_id) == []


async def test_a_message_deferred_for_longer_than_its_maximum_age_is_reported_failed(bus, server_id):
    request = delivery_requested(server_id, recipient("later"), first_attempt_at=utcnow() - timedelta(days=2))

    await bus.publish_to_queue(request, queue_of(server_id))
    failed = await bus.wait_for_status(request.send.message_id, "failed")

    assert "gave up: still deferred" in failed.reply_text


async def test_connection_lost_after_the_message_is_deferred_and_tried_again_not_left_unknown(
    bus, sink, server_id
):
    to = recipient("vanish")  # the sink keeps it, but the worker never hears so
    request = delivery_requested(server_id, to)

    await bus.publish_to_queue(request, queue_of(server_id))
    deferred = await bus.wait_for_status(request.send.message_id, "deferred")
    retry = await bus.rerouted.wait_for(lambda send: send.message_id == request.send.message_id)

    assert "connection lost after the message was transmitted" in deferred.reply_text
    assert retry.attempt == 2 and retry.avoid_server_ids == [server_id]
    assert bus.status_of(request.send.message_id, "unknown") == [], "unknown only once a retry has ended"
    assert len(sink.to(to)) == 1


async def test_a_server_added_later_is_served_without_a_restart(bus, catalog):
    with ScriptedSink() as later_sink:
        server = catalog.put_server(plain_settings(later_sink))
        await bus.publish_catalog_event(catalog.changed_event(server))
        await bus.wait_until_consumed(queue_of(server.id))
        to = recipient()
        request = delivery_requested(server.id, to)

        await bus.publish_to_queue(request, queue_of(server.id))
        sent = await bus.wait_for_status(request.send.message_id, "sent")

        assert sent.server_id == server.id
        assert len(later_sink.to(to)) == 1


async def test_a_newer_server_version_is_sent_with_its_new_settings(bus, catalog):
    with ScriptedSink() as old_sink, ScriptedSink() as new_sink:
        server = catalog.put_server(plain_settings(old_sink))
        await bus.publish_catalog_event(catalog.changed_event(server))
        await bus.wait_until_consumed(queue_of(server.id))
        before = delivery_requested(server.id, recipient())
        await bus.publish_to_queue(before, queue_of(server.id))
        await bus.wait_for_status(before.send.message_id, "sent")

        moved = catalog.put_server(plain_settings(new_sink), server_id=server.id, version=2)
        await bus.publish_catalog_event(catalog.changed_event(moved))
        # The retired sender closes its pooled connection: the sign the worker took the change in.
        await eventually(lambda: old_sink.quits == 1, what="the old server's connection closed")
        after = delivery_requested(server.id, recipient())
        await bus.publish_to_queue(after, queue_of(server.id))
        await bus.wait_for_status(after.send.message_id, "sent")

        assert len(new_sink.to(after.send.recipient)) == 1
        assert old_sink.to(after.send.recipient) == []
        assert catalog.settings_requests.count(server.id) == 2, "settings are fetched once per version"


async def test_a_malformed_message_is_dead_lettered_and_the_next_one_is_delivered(bus, sink, server_id):
    queue = queue_of(server_id)
    await bus.broker.publish(b"{not json", queue=queue, content_type="application/json", persist=True)
    await bus.broker.publish(
        b'{"send": {"recipient": "x"}}', queue=queue, content_type="application/json", persist=True
    )
    to = recipient()
    good = delivery_requested(server_id, to)
    await bus.publish_to_queue(good, queue)

    await bus.wait_for_status(good.send.message_id, "sent")
    broken = await bus.dead.wait_for(lambda letter: letter.body == b"{not json")
    invalid = await bus.dead.wait_for(lambda letter: letter.body.startswith(b'{"send"'))

    for letter in (broken, invalid):
        assert letter.headers[DEAD_REASON_HEADER].startswith("malformed message")
        assert letter.headers[SOURCE_QUEUE_HEADER].endswith(queue)
    assert "validation error" in invalid.headers[DEAD_REASON_HEADER]
    assert len(sink.to(to)) == 1
