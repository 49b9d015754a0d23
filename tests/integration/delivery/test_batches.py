"""Batches of recipients through the worker process: each recipient sent, recorded and reported on
its own, the reports travelling in batches too; one recipient that cannot be sent fails alone; a
batch that comes again sends only what was not sent; a single message of an earlier version still
goes out."""

import asyncio
import time

import pytest

from shared.contracts import DeliveryBatch
from shared.topology import delivery_queue_name
from tests.integration.delivery.messages import delivery_batch, delivery_requested, recipient
from tests.integration.delivery.smtp_scripts import SLOW_REPLY_SECONDS

pytestmark = pytest.mark.usefixtures("worker")

SETTLE_SECONDS = 1.0
"""How long to keep watching before concluding that something did not happen."""


def queue_of(server_id) -> str:
    return delivery_queue_name("smtp", server_id)


async def test_every_recipient_of_a_batch_is_sent_once_and_the_statuses_travel_in_batches(
    bus, sink, server_id
):
    recipients = [recipient() for _ in range(30)]
    batch = delivery_batch(server_id, recipients)
    ids = {request.send.message_id for request in batch.requests()}

    await bus.publish_to_queue(batch, queue_of(server_id))
    sent = [await bus.wait_for_status(message_id, "sent") for message_id in ids]
    await asyncio.sleep(SETTLE_SECONDS)

    for to in recipients:
        assert len(sink.to(to)) == 1, f"{to} got the message {len(sink.to(to))} times"
    assert {event.recipient for event in sent} == set(recipients)
    assert all(len(bus.status_of(message_id, "sent")) == 1 for message_id in ids), "one report each"
    assert len({event.event_id for event in sent}) == len(ids), "every event has an id of its own"
    assert all(
        (event.campaign_id, event.run_id) == (batch.batch.campaign_id, batch.batch.run_id) for event in sent
    )
    carriers = bus.status_messages_about(ids, "sent")
    assert len(carriers) < len(ids), f"{len(ids)} sent events came in {len(carriers)} status messages"


async def test_the_recipients_of_a_batch_are_sent_side_by_side(bus, sink, server_id):
    """Each send waits a second for the server's answer: one after the other, eight would take
    eight seconds; over the server's pooled connections they take a fraction of that."""
    recipients = [recipient("slow") for _ in range(8)]
    batch = delivery_batch(server_id, recipients)
    started = time.monotonic()

    await bus.publish_to_queue(batch, queue_of(server_id))
    for request in batch.requests():
        await bus.wait_for_status(request.send.message_id, "sent", timeout=20)
    took = time.monotonic() - started

    assert took < len(recipients) * SLOW_REPLY_SECONDS / 2, f"8 slow sends took {took:.1f}s"
    assert all(len(sink.to(to)) == 1 for to in recipients)


async def test_a_recipient_whose_message_cannot_be_built_fails_alone_and_the_others_are_sent_once(
    bus, sink, server_id
):
    unbuildable = "rené@inbox.example"  # no SMTPUTF8 here: a non-ASCII local part cannot be addressed
    recipients = [recipient() for _ in range(6)]
    batch = delivery_batch(server_id, [*recipients[:3], unbuildable, *recipients[3:]])
    by_recipient = {request.send.recipient: request.send.message_id for request in batch.requests()}

    await bus.publish_to_queue(batch, queue_of(server_id))
    failed = await bus.wait_for_status(by_recipient[unbuildable], "failed")
    for to in recipients:
        await bus.wait_for_status(by_recipient[to], "sent")
    await asyncio.sleep(SETTLE_SECONDS)

    assert failed.reply_text.startswith("message refused before sending: To address")
    assert failed.reply_code is None, "no server was asked"
    assert sink.to(unbuildable) == []
    for to in recipients:
        assert len(sink.to(to)) == 1, f"{to} got the message {len(sink.to(to))} times"
        assert len(bus.status_of(by_recipient[to], "sent")) == 1
    assert bus.status_of(by_recipient[unbuildable], "sent") == []
    assert not bus.dead.matching(lambda letter: str(batch.batch.run_id).encode() in letter.body)
    assert await bus.queue_depth(queue_of(server_id)) == 0


async def test_a_batch_that_comes_again_sends_only_the_recipients_not_sent_yet(bus, sink, server_id):
    recipients = [recipient() for _ in range(5)]
    batch = delivery_batch(server_id, recipients)
    requests = batch.requests()
    already = requests[:2]
    # The first two went out before the batch came again (a worker stopped after sending them,
    # or a router published the batch twice).
    [first_part] = DeliveryBatch.of(already)
    await bus.publish_to_queue(first_part, queue_of(server_id))
    first_reports = {
        request.send.message_id: await bus.wait_for_status(request.send.message_id, "sent")
        for request in already
    }

    await bus.publish_to_queue(batch, queue_of(server_id))
    for request in requests:
        await bus.statuses.wait_for(
            lambda event, r=request: (
                event.message_id == r.send.message_id
                and event.status == "sent"
                and (r not in already or len(bus.status_of(r.send.message_id, "sent")) == 2)
            )
        )
    await asyncio.sleep(SETTLE_SECONDS)

    for to in recipients:
        assert len(sink.to(to)) == 1, f"{to} got the message {len(sink.to(to))} times"
    for request in already:
        first, again = bus.status_of(request.send.message_id, "sent")
        assert first == first_reports[request.send.message_id]
        assert again.event_id == first.event_id, "the same fact, published again, under the same id"
        assert again.vendor_message_id == first.vendor_message_id
    for request in requests[2:]:
        assert len(bus.status_of(request.send.message_id, "sent")) == 1
    assert all(bus.status_of(request.send.message_id, "unknown") == [] for request in requests)


async def test_a_single_message_of_an_earlier_version_is_still_delivered(bus, sink, server_id):
    to = recipient()
    request = delivery_requested(server_id, to)

    await bus.publish_legacy(request, queue_of(server_id))
    sent = await bus.wait_for_status(request.send.message_id, "sent")

    assert len(sink.to(to)) == 1
    assert (sent.server_id, sent.recipient, sent.attempt) == (server_id, to, 1)


async def test_the_deferred_recipients_of_a_batch_wait_together_and_come_back_in_batches(bus, server_id):
    later = [recipient("later") for _ in range(6)]
    batch = delivery_batch(server_id, [*later, recipient()])
    ids = {request.send.message_id for request in batch.requests() if request.send.recipient in later}

    await bus.publish_to_queue(batch, queue_of(server_id))
    retries = [
        await bus.rerouted.wait_for(lambda send, m=message_id: send.message_id == m) for message_id in ids
    ]

    assert {(retry.attempt, tuple(retry.avoid_server_ids)) for retry in retries} == {(2, (server_id,))}
    carriers = bus.rerouted_messages.matching(
        lambda body: any(send.message_id in ids for send in getattr(body, "recipients", []))
    )
    assert len(carriers) < len(ids), f"{len(ids)} retries came back in {len(carriers)} messages"
    assert all(len(bus.status_of(message_id, "deferred")) == 1 for message_id in ids)
