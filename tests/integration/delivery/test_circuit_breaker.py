"""A server that cannot be reached: its messages go back to routing, its circuit opens, the worker
announces it unhealthy and lets its queue be, then probes it and takes it back once it answers."""

import asyncio

import pytest

from shared.topology import delivery_queue_name
from tests.integration.delivery.conftest import CIRCUIT_FAILURE_THRESHOLD, MAX_ATTEMPTS
from tests.integration.delivery.messages import delivery_requested, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink

pytestmark = pytest.mark.usefixtures("worker")

SETTLE_SECONDS = 1.0


async def test_an_unreachable_server_is_taken_out_of_service_and_back_when_it_answers(bus, catalog):
    sink = ScriptedSink()  # its port is chosen, but nothing listens there until the sink starts
    server = catalog.put_server({"host": "127.0.0.1", "port": sink.port, "encryption": "none"})
    queue = delivery_queue_name("smtp", server.id)
    await bus.publish_catalog_event(catalog.changed_event(server))
    await bus.wait_until_consumed(queue)

    requests = [delivery_requested(server.id, recipient()) for _ in range(CIRCUIT_FAILURE_THRESHOLD - 1)]
    requests.append(delivery_requested(server.id, recipient(), attempt=MAX_ATTEMPTS))
    for request in requests:
        await bus.publish_to_queue(request, queue)

    # Each message goes back through routing at once, steered away, on the same attempt, not failed.
    for request in requests:
        rerouted = await bus.rerouted.wait_for(lambda send, r=request: send.message_id == r.send.message_id)
        assert (rerouted.attempt, rerouted.avoid_server_ids) == (request.send.attempt, [server.id])
        deferred = await bus.wait_for_status(request.send.message_id, "deferred")
        assert deferred.reply_text.startswith("could not open a connection:")
    unhealthy = await bus.health.wait_for(lambda event: event.server_id == server.id)
    assert (unhealthy.healthy, unhealthy.vendor) == (False, "smtp")
    assert unhealthy.consecutive_failures == CIRCUIT_FAILURE_THRESHOLD
    assert unhealthy.reason.startswith("could not open a connection:")
    await bus.wait_until_not_consumed(queue)

    waiting = delivery_requested(server.id, recipient())
    await bus.publish_to_queue(waiting, queue)
    await asyncio.sleep(SETTLE_SECONDS)
    assert await bus.queue_depth(queue) == 1, "an open circuit leaves the queue to the router"
    assert all(not bus.status_of(request.send.message_id, "failed") for request in requests)

    with sink:
        healthy = await bus.health.wait_for(lambda event: event.server_id == server.id and event.healthy)
        await bus.wait_for_status(waiting.send.message_id, "sent")

        assert healthy.consecutive_failures == 0 and healthy.reason == ""
        assert len(sink.to(waiting.send.recipient)) == 1


async def test_recipients_refused_by_a_reachable_server_never_open_its_circuit(bus, sink, server_id):
    refused = [
        delivery_requested(server_id, recipient("bounce")) for _ in range(CIRCUIT_FAILURE_THRESHOLD + 1)
    ]

    for request in refused:
        await bus.publish_to_queue(request, delivery_queue_name("smtp", server_id))
    for request in refused:
        await bus.wait_for_status(request.send.message_id, "failed")
    await asyncio.sleep(SETTLE_SECONDS)

    assert bus.health.matching(lambda event: event.server_id == server_id) == []
