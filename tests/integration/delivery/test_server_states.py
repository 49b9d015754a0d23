"""The worker sends only through active servers: it lets go of a server's queue when the server
stops being active (the router drains it), without losing or stranding a message, and takes the
queue back when the server is active again."""

import asyncio

import pytest

from shared.contracts import ServerState
from shared.topology import delivery_queue, delivery_queue_name
from tests.integration.delivery.harness import eventually
from tests.integration.delivery.messages import delivery_batch, delivery_requested, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink

pytestmark = pytest.mark.usefixtures("worker")

SETTLE_SECONDS = 1.0


async def test_an_inactive_server_is_not_consumed_until_it_is_enabled(bus, catalog):
    with ScriptedSink() as sink:
        server = catalog.put_server(
            {"host": "127.0.0.1", "port": sink.port, "encryption": "none"}, state=ServerState.INACTIVE
        )
        queue = delivery_queue_name("smtp", server.id)
        await bus.broker.declare_queue(delivery_queue("smtp", server.id))  # as the router does
        await bus.publish_catalog_event(catalog.changed_event(server))
        request = delivery_requested(server.id, recipient())
        await bus.publish_to_queue(request, queue)

        await asyncio.sleep(SETTLE_SECONDS)
        assert await bus.queue_depth(queue) == 1
        assert sink.messages == []

        enabled = catalog.put_server(
            {"host": "127.0.0.1", "port": sink.port, "encryption": "none"}, server_id=server.id, version=2
        )
        await bus.publish_catalog_event(catalog.changed_event(enabled))
        await bus.wait_for_status(request.send.message_id, "sent")

        assert len(sink.to(request.send.recipient)) == 1


async def test_disabling_a_busy_server_strands_no_message(bus, catalog):
    """Every message ends sent, or handed back to routing unsent, or still queued: none is left
    delivered to the worker and never handled (what stopping a FastStream subscriber alone does)."""
    with ScriptedSink() as sink:
        settings = {"host": "127.0.0.1", "port": sink.port, "encryption": "none"}
        server = catalog.put_server(settings)
        queue = delivery_queue_name("smtp", server.id)
        await bus.publish_catalog_event(catalog.changed_event(server))
        await bus.wait_until_consumed(queue)
        # As a router publishes them: batches, several in hand at once, each stopped half-way.
        batches = [delivery_batch(server.id, [recipient() for _ in range(50)]) for _ in range(8)]
        ids = {request.send.message_id for batch in batches for request in batch.requests()}
        await asyncio.gather(*(bus.publish_to_queue(batch, queue) for batch in batches))
        await eventually(lambda: len(sink.messages) >= 20, what="the first messages sent")

        disabled = catalog.put_server(settings, server_id=server.id, version=2, state=ServerState.DISABLED)
        await bus.publish_catalog_event(catalog.changed_event(disabled))
        await bus.wait_until_not_consumed(queue, timeout=30)

        def settled() -> set:
            sent = {event.message_id for event in bus.statuses.items if event.status == "sent"}
            handed_back = {send.message_id for send in bus.rerouted.items}
            return (sent | handed_back) & ids

        queued = 50 * await bus.queue_depth(queue)  # batches of 50 left in the queue, untouched
        await eventually(
            lambda: len(settled()) + queued == len(ids), timeout=10, what="every message accounted for"
        )
        handed_back = {send.message_id for send in bus.rerouted.items} & ids
        assert handed_back, "messages in hand when the server was disabled go back to routing"
        assert all(
            send.avoid_server_ids == [server.id] for send in bus.rerouted.items if send.message_id in ids
        )

        enabled = catalog.put_server(settings, server_id=server.id, version=3)
        await bus.publish_catalog_event(catalog.changed_event(enabled))
        await eventually(lambda: settled() == ids, timeout=20, what="the queued rest sent once enabled again")

        received = [rcpt for message in sink.messages for rcpt in message.rcpt_tos]
        assert len(received) == len(set(received)), "nothing is sent twice"
        assert not any(
            send.message_id in ids for send in bus.rerouted.items if send.message_id not in handed_back
        )
