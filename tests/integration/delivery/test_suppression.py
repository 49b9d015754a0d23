"""The last suppression check through the worker process, against a real SMTP sink: a recipient
suppressed between routing and sending is not sent and is reported `suppressed` with the reason,
the others of its batch are sent; the check is asked once per batch; a copy of the batch sends
nothing more; and while the bounces service does not answer, nothing of a batch is sent."""

import asyncio
from uuid import uuid4

import asyncpg
import pytest

from shared.topology import delivery_queue_name
from tests.integration.delivery.conftest import SUPPRESSION_CHECK_TIMEOUT_SECONDS
from tests.integration.delivery.messages import delivery_batch, recipient
from tests.support.suppression_responder import SuppressionResponder

pytestmark = pytest.mark.usefixtures("worker")

SETTLE_SECONDS = 1.0
"""How long to keep watching before concluding that something did not happen."""
HARD = "hard bounce: 550 5.1.1 <user unknown> (reported 2026-12-06)"


def queue_of(server_id) -> str:
    return delivery_queue_name("smtp", server_id)


@pytest.fixture
async def database(service_env):
    """The worker's database, as the test sees it."""
    conn = await asyncpg.connect(service_env["SENDPOOL_DATABASE_URL"])
    yield conn
    await conn.close()


async def test_a_recipient_suppressed_after_routing_is_not_sent_and_the_rest_of_its_batch_is(
    bus, sink, server_id, suppression: SuppressionResponder
):
    recipients = [recipient() for _ in range(6)]
    batch = delivery_batch(server_id, recipients)
    tenant_id = batch.batch.tenant_id
    by_address = {request.send.recipient: request.send.message_id for request in batch.requests()}
    # Routed, then suppressed before the worker takes the batch: one for the tenant (asked in another
    # case than it was listed in), one for everyone; a third is suppressed for another tenant only.
    suppression.suppress(tenant_id, recipients[1].upper(), HARD)
    suppression.suppress(None, recipients[4], "global: spam trap")
    suppression.suppress(uuid4(), recipients[2], "another tenant's complaint")
    checks_before = len(suppression.checks)

    await bus.publish_to_queue(batch, queue_of(server_id))
    first = await bus.wait_for_status(by_address[recipients[1]], "suppressed")
    second = await bus.wait_for_status(by_address[recipients[4]], "suppressed")
    for to in (recipients[0], recipients[2], recipients[3], recipients[5]):
        await bus.wait_for_status(by_address[to], "sent")
    await asyncio.sleep(SETTLE_SECONDS)

    assert sink.to(recipients[1]) == [] and sink.to(recipients[4]) == [], "a suppressed recipient got mail"
    for to in (recipients[0], recipients[2], recipients[3], recipients[5]):
        assert len(sink.to(to)) == 1
    assert (first.reply_text, first.server_id, first.recipient) == (HARD, server_id, recipients[1])
    assert second.reply_text == "global: spam trap"
    assert bus.status_of(by_address[recipients[1]], "sent") == []
    ours = [check for check in suppression.checks[checks_before:] if check.tenant_id == tenant_id]
    assert [sorted(check.addresses) for check in ours] == [sorted(recipients)], "asked once for the batch"


async def test_a_copy_of_the_batch_sends_nothing_more_even_once_the_address_is_no_longer_suppressed(
    bus, sink, server_id, suppression: SuppressionResponder, database
):
    recipients = [recipient(), recipient()]
    batch = delivery_batch(server_id, recipients)
    suppressed_id = batch.requests()[0].send.message_id
    suppression.suppress(batch.batch.tenant_id, recipients[0], "unsubscribed")
    await bus.publish_to_queue(batch, queue_of(server_id))
    first = await bus.wait_for_status(suppressed_id, "suppressed")
    await bus.wait_for_status(batch.requests()[1].send.message_id, "sent")

    suppression.lift(batch.batch.tenant_id, recipients[0])
    await bus.publish_to_queue(batch, queue_of(server_id))  # a router published it twice, say
    await asyncio.sleep(SETTLE_SECONDS * 2)

    assert sink.to(recipients[0]) == [], "the record's final word holds for every copy"
    assert len(sink.to(recipients[1])) == 1
    reports = bus.status_of(suppressed_id, "suppressed")
    assert {event.event_id for event in reports} == {first.event_id}, "the same fact, the same id"
    record = await database.fetchrow(
        "SELECT state, reply_text FROM delivery.attempts WHERE message_id = $1", suppressed_id
    )
    assert (record["state"], record["reply_text"]) == ("suppressed", "unsubscribed")


async def test_nothing_of_a_batch_is_sent_while_the_bounces_service_does_not_answer(
    bus, sink, server_id, suppression: SuppressionResponder
):
    recipients = [recipient() for _ in range(3)]
    batch = delivery_batch(server_id, recipients)
    suppression.suppress(batch.batch.tenant_id, recipients[2], "complaint (abuse report)")
    ids = [request.send.message_id for request in batch.requests()]

    await suppression.down()
    try:
        await bus.publish_to_queue(batch, queue_of(server_id))
        await asyncio.sleep(SUPPRESSION_CHECK_TIMEOUT_SECONDS * 2)  # at least one check timed out
        assert all(sink.to(to) == [] for to in recipients), "sent without an answer"
        assert all(bus.status_of(message_id) == [] for message_id in ids)
        assert bus.dead.matching(lambda letter: any(str(i).encode() in letter.body for i in ids)) == []
    finally:
        await suppression.up()

    await bus.wait_for_status(ids[0], "sent", timeout=40)
    await bus.wait_for_status(ids[1], "sent", timeout=10)
    await bus.wait_for_status(ids[2], "suppressed", timeout=10)
    assert sink.to(recipients[2]) == []
