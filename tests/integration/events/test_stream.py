"""Status events in, the event log and the public stream out: against real RabbitMQ and PostgreSQL."""

from uuid import uuid4

import aio_pika

from shared.contracts import MessageStatus, StatusBatch
from shared.messaging import DEAD_REASON_HEADER
from shared.topology import DEAD_QUEUE
from tests.integration.events.support import campaign_started, one_message_life, status
from tests.support.waiting import eventually_async


async def logged(events_db, tenant_id) -> int:
    return await events_db.pool.fetchval("SELECT count(*) FROM event_log WHERE tenant_id = $1", tenant_id)


async def test_status_batches_are_logged_and_published_on_the_public_stream(
    status_publisher, listen, events_db
):
    tenant, campaign = uuid4(), uuid4()
    listener = await listen(f"{tenant}.#")
    message_id, batches = one_message_life(tenant, campaign, "Ann@Example.com")
    await status_publisher.publish([*batches, campaign_started(tenant, campaign)])

    received = await listener.batches(events=6)
    by_type = {batch.type.value: (key, batch) for key, batch in received}
    assert set(by_type) == {"routed", "deferred", "sent", "bounced", "campaign_started"}
    for event_type, (key, batch) in by_type.items():
        assert key == f"{tenant}.{campaign}.{event_type}" == batch.routing_key
        assert all(event.tenant_id == tenant and event.campaign_id == campaign for event in batch.events)
    bounced = by_type["bounced"][1].events[0]
    assert bounced.message_id == message_id and bounced.attempt == 2
    assert bounced.details["feedback_class"] == "hard"
    assert by_type["campaign_started"][1].events[0].message_id is None
    sent_ids = {event.event_id for _, batch in received for event in batch.events}
    assert {batch.events[0].event_id for batch in batches} <= sent_ids

    rows = await events_db.pool.fetch(
        "SELECT recipient, type, envelope FROM event_log WHERE message_id = $1 ORDER BY occurred_at",
        message_id,
    )
    assert [row["type"] for row in rows] == ["routed", "deferred", "routed", "sent", "bounced"]
    assert {row["recipient"] for row in rows} == {"ann@example.com"}  # searched without case
    assert rows[0]["envelope"]["recipient"] == "Ann@Example.com"  # as published
    assert rows[0]["envelope"]["details"]["decision"]["mode"] == "selection"


async def test_a_status_batch_published_again_is_neither_logged_nor_published_twice(
    status_publisher, listen, events_db
):
    tenant, campaign = uuid4(), uuid4()
    listener = await listen(f"{tenant}.#")
    statuses = [
        status(MessageStatus.SENT, tenant, campaign, recipient=f"r{i}@example.com") for i in range(50)
    ]
    [batch] = StatusBatch.of(statuses)
    await status_publisher.publish([batch])
    [(_, first)] = await listener.batches(events=50)
    assert [event.event_id for event in first.events] == [event.event_id for event in statuses]

    # The same facts again, whole and split differently (a relay that published twice).
    await status_publisher.publish([batch, *StatusBatch.of(statuses, max_size=20)])
    marker = status(MessageStatus.SENT, tenant, campaign)
    await status_publisher.publish(StatusBatch.of([marker]))
    [(_, after)] = await listener.batches(events=1)
    assert [event.event_id for event in after.events] == [marker.event_id]  # nothing of the copies
    assert await logged(events_db, tenant) == 51


async def test_a_malformed_status_message_is_dead_lettered_with_its_reason(
    status_publisher, connection, events_db
):
    tenant, campaign = uuid4(), uuid4()
    await status_publisher.publish_raw(
        b'{"schema_version": 2, "tenant_id": "' + str(tenant).encode() + b'", "events": "nonsense"}',
        f"{tenant}.{campaign}.sent",
    )
    channel = await connection.channel()
    dead = await channel.declare_queue(DEAD_QUEUE.name, passive=True)

    async def dead_letter() -> aio_pika.abc.AbstractIncomingMessage | None:
        message = await dead.get(no_ack=False, fail=False)
        if message is not None and str(tenant).encode() not in message.body:
            await message.nack(requeue=True)  # another test's
            return None
        return message

    found = await eventually_async(
        dead_letter, timeout_seconds=15, interval_seconds=0.1, what="a dead letter"
    )
    assert "malformed message" in found.headers[DEAD_REASON_HEADER]
    await found.ack()
    assert await logged(events_db, tenant) == 0
