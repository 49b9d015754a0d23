"""A consumer not written in Python reads the public stream: `amqp-consume` (librabbitmq's C tools,
Debian's amqp-tools; `make test` installs them) binds a queue to `sendpool.events` for one tenant's
bounces and prints the message it gets."""

import asyncio
import json
import shutil
from uuid import UUID, uuid4

import aiormq
import pytest

from shared.events import EventBatch
from tests.integration.events.support import one_message_life

pytestmark = pytest.mark.skipif(
    shutil.which("amqp-consume") is None, reason="amqp-tools missing: `make test` installs it"
)


async def consumers_of(connection, queue: str) -> int:
    """Consumers of `queue`; 0 while amqp-consume has not declared it yet."""
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return 0  # the channel is closed by the broker with the error
    await channel.close()
    return declared.declaration_result.consumer_count or 0


async def test_amqp_consume_reads_an_event_batch_with_its_routing_key(
    events_settings, status_publisher, connection
):
    url = events_settings.amqp_url
    tenant, campaign = uuid4(), uuid4()
    queue = f"test-amqp-consume-{uuid4().hex[:8]}"
    # amqp-consume declares its queue (auto-deleted with it), binds it to one tenant's bounces, waits
    # for one message and pipes its body to `cat`. The routing key is checked from the body's own fields.
    consumer = await asyncio.create_subprocess_exec(
        "amqp-consume", "-u", url, "-q", queue, "-e", "sendpool.events", "-r", f"{tenant}.*.bounced",
        "-c", "1", "-p", "1", "cat",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(10):
            while await consumers_of(connection, queue) == 0:
                assert consumer.returncode is None, (await consumer.stderr.read()).decode()
                await asyncio.sleep(0.05)
        message_id, batches = one_message_life(tenant, campaign, "bob@example.com")
        await status_publisher.publish(batches)  # routed, deferred, routed, sent: not bound; bounced: bound
        stdout, stderr = await asyncio.wait_for(consumer.communicate(), timeout=20)
    finally:
        if consumer.returncode is None:
            consumer.kill()
            await consumer.wait()
    assert consumer.returncode == 0, stderr.decode()

    body = json.loads(stdout)
    batch = EventBatch.model_validate(body)  # exactly the published contract
    assert body["schema_version"] == 1 and body["type"] == "bounced"
    assert batch.routing_key == f"{tenant}.{campaign}.bounced"
    [event] = body["events"]
    assert UUID(event["event_id"]) == batches[-1].events[0].event_id
    assert event["message_id"] == str(message_id) and event["recipient"] == "bob@example.com"
    assert event["attempt"] == 2 and event["vendor"] == "smtp"
    assert event["details"]["feedback_class"] == "hard" and event["details"]["enhanced_code"] == "5.1.1"
    assert {"event_id", "type", "occurred_at", "tenant_id", "campaign_id", "server_id"} <= set(event)
