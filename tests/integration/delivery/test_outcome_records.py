"""The outcome of every send reaches the attempts record, so no sent message is sent again: not when a
server's reply holds bytes PostgreSQL refuses, not when the database drops the write; and a message
whose connection was lost after DATA is tried again rather than left unsent."""

import asyncio
from uuid import UUID

import asyncpg
import pytest

from shared.topology import delivery_queue_name
from tests.integration.delivery.conftest import MAX_ATTEMPTS
from tests.integration.delivery.harness import eventually, polled
from tests.integration.delivery.messages import delivery_requested, recipient, routed_again

pytestmark = pytest.mark.usefixtures("worker")

SETTLE_SECONDS = 1.5
"""Long enough for a nacked message to come back and be sent again, had it been nacked."""


def queue_of(server_id) -> str:
    return delivery_queue_name("smtp", server_id)


@pytest.fixture
async def database(service_env):
    """The worker's database, as the test sees it (superuser: it may lock rows and end backends)."""
    conn = await asyncpg.connect(service_env["SENDPOOL_DATABASE_URL"])
    yield conn
    await conn.close()


async def recorded_state(database, message_id: UUID) -> str | None:
    return await database.fetchval("SELECT state FROM delivery.attempts WHERE message_id = $1", message_id)


async def test_replies_with_nul_or_invalid_utf8_are_recorded_with_their_batch_and_nothing_is_sent_twice(
    bus, sink, server_id, database
):
    # Other tenants' messages (each has its own) go out at the same moment, so they share a write.
    recipients = [recipient("nul"), recipient("mojibake")] + [recipient() for _ in range(8)]
    requests = [delivery_requested(server_id, to) for to in recipients]

    await asyncio.gather(*(bus.publish_to_queue(request, queue_of(server_id)) for request in requests))
    sent = {
        request.send.recipient: await bus.wait_for_status(request.send.message_id, "sent")
        for request in requests
    }
    await asyncio.sleep(SETTLE_SECONDS)

    for request in requests:
        message_id, to = request.send.message_id, request.send.recipient
        assert len(sink.to(to)) == 1, f"{to} got the message {len(sink.to(to))} times"
        assert bus.status_of(message_id, "unknown") == []
        assert await recorded_state(database, message_id) == "sent"
    nul = sent[recipients[0]]
    assert nul.reply_text == "2.0.0 Ok: queued as NUL[31m with NULs"
    assert "\x00" not in nul.vendor_message_id
    mojibake = sent[recipients[1]]
    assert mojibake.reply_text.startswith("2.0.0 Ok: queued as \ufffd")
    assert mojibake.reply_text.endswith(" M0J1BAKE \ufffd\ufffd\ufffd end")


async def test_an_outcome_write_the_database_drops_is_written_again_and_the_message_is_sent_once(
    bus, sink, server_id, database
):
    to = recipient("slow")  # the sink answers after a second: time to get in the way of the write
    message_id = (await bus.send(server_id, to)).send.message_id
    await eventually(lambda: bool(sink.handler.ehlo_count), what="the worker connected")
    await polled(
        lambda: recorded_state(database, message_id), lambda state: state == "sending", what="claimed"
    )
    # Hold the claim's row, so the outcome's write waits on it; then end that write's connection.
    blocker = database.transaction()
    await blocker.start()
    await database.execute("SELECT 1 FROM delivery.attempts WHERE message_id = $1 FOR UPDATE", message_id)
    writers = await polled(
        # (Its `query` may still show the pool's reset of the connection: asyncpg's extended
        # protocol does not always update it.)
        lambda: database.fetch(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND application_name = 'sendpool-delivery'"""
        ),
        bool,
        what="the outcome's write waits on the lock",
    )
    for writer in writers:
        await database.execute("SELECT pg_terminate_backend($1)", writer["pid"])
    await blocker.rollback()

    await bus.wait_for_status(message_id, "sent", timeout=15)
    await asyncio.sleep(SETTLE_SECONDS)

    assert len(sink.to(to)) == 1, "the message was sent again because its outcome was not recorded"
    assert bus.status_of(message_id, "unknown") == []
    assert await recorded_state(database, message_id) == "sent"


async def test_a_connection_lost_after_data_is_retried_and_reported_unknown_once_accepted(
    bus, sink, server_id, database
):
    to = recipient("dropfirst")
    message_id = (await bus.send(server_id, to)).send.message_id
    deferred = await bus.wait_for_status(message_id, "deferred")
    retry = await bus.rerouted.wait_for(lambda send: send.message_id == message_id)
    assert "connection lost after the message was transmitted" in deferred.reply_text
    assert retry.attempt == 2
    assert await database.fetchval(
        "SELECT maybe_delivered FROM delivery.attempts WHERE message_id = $1", message_id
    )

    await bus.publish_to_queue(routed_again(retry, server_id), queue_of(server_id))
    unknown = await bus.wait_for_status(message_id, "unknown")

    assert (sink.dropped_to(to), len(sink.to(to))) == (1, 1), "lost once, then delivered by the retry"
    assert unknown.attempt == 2
    assert "may have arrived then" in unknown.reply_text
    assert "the recipient may have it twice" in unknown.reply_text
    assert bus.status_of(message_id, "sent") == []
    assert await recorded_state(database, message_id) == "unknown"


async def test_a_server_that_always_drops_after_data_gets_the_message_retried_until_it_is_failed(
    bus, sink, server_id
):
    to = recipient("dropalways")
    message_id = (await bus.send(server_id, to)).send.message_id
    for attempt in range(2, MAX_ATTEMPTS + 1):
        retry = await bus.rerouted.wait_for(
            lambda send, n=attempt: send.message_id == message_id and send.attempt == n
        )
        await bus.publish_to_queue(routed_again(retry, server_id), queue_of(server_id))
    failed = await bus.wait_for_status(message_id, "failed")

    assert sink.dropped_to(to) == MAX_ATTEMPTS, "every attempt was made"
    assert failed.attempt == MAX_ATTEMPTS
    assert f"gave up: deferred on each of {MAX_ATTEMPTS} attempts" in failed.reply_text
    assert "so it may have arrived then" in failed.reply_text
    assert len(bus.status_of(message_id, "deferred")) == MAX_ATTEMPTS - 1


async def test_a_copy_published_again_while_the_first_is_being_sent_or_after_is_not_sent_again(
    bus, sink, server_id
):
    # As the scheduler does for a message that made no progress for long: same message id, a
    # fresh publish (not a redelivery).
    to = recipient("slow")
    request = await bus.send(server_id, to)
    message_id = request.send.message_id

    await eventually(lambda: sink.handler.ehlo_count > 0, what="the worker connected")
    await asyncio.sleep(0.3)  # the first copy is claimed, its answer a second away
    await bus.publish_to_queue(request, queue_of(server_id))
    await bus.wait_for_status(message_id, "sent")
    await bus.publish_to_queue(request, queue_of(server_id))
    await bus.statuses.wait_for(lambda event: len(bus.status_of(message_id, "sent")) == 2)
    await asyncio.sleep(SETTLE_SECONDS)

    assert len(sink.to(to)) == 1
    assert bus.status_of(message_id, "unknown") == []
