"""Batches across the scheduler's hops, against real RabbitMQ and PostgreSQL: a run goes out as
`SendBatch`es, and `StatusBatch`es (or the single `StatusEvent` of an earlier version) come back
and are folded, each fact once however often it arrives."""

import json
import math
from collections import Counter
from uuid import uuid4

from services.scheduler.settings import SchedulerSettings
from shared.contracts import MessageStatus, SendBatch, StatusBatch
from tests.integration.scheduler.harness import Bus, SchedulerApi

SEND_BATCH_SIZE = SchedulerSettings.model_fields["send_batch_size"].default
"""The package's scheduler runs with the default (250), and expands 500 recipients at a time."""


async def test_a_launched_campaign_goes_out_as_send_batches_each_recipient_once_and_the_content_once_per_batch(
    tenant: SchedulerApi, bus: Bus
):
    size = 1_100
    launched = await tenant.launched_campaign(size)

    messages = await bus.collect_send_messages(launched["id"], size, linger=1.0)

    assert all(isinstance(body, SendBatch) for body, _ in messages), "only batches, no single requests"
    batches = [body for body, _ in messages if isinstance(body, SendBatch)]
    assert len(batches) == math.ceil(size / SEND_BATCH_SIZE)
    assert all(len(batch.recipients) <= SEND_BATCH_SIZE for batch in batches)
    recipients = Counter(recipient.recipient for batch in batches for recipient in batch.recipients)
    assert recipients == Counter(f"user{i}@example.com" for i in range(size)), "each recipient exactly once"
    assert len({recipient.message_id for batch in batches for recipient in batch.recipients}) == size
    assert {str(batch.run_id) for batch in batches} == {launched["run_id"]}
    for _, raw in messages:
        body = json.loads(raw)
        assert body["content"]["subject"] == "Spring sale"
        assert all("content" not in recipient for recipient in body["recipients"])
        assert raw.count(b'"subject"') == 1, "the content travels once per batch"
    report = await tenant.wait_for(launched["id"], lambda r: r["expanded"] == size)
    assert report["counts"] == {"queued": size}


async def test_a_status_batch_is_folded_whole_and_a_redelivered_copy_changes_nothing(
    tenant: SchedulerApi, bus: Bus
):
    size = 600
    launched = await tenant.launched_campaign(size)
    campaign_id = launched["id"]
    requests = await bus.collect_send_requests(campaign_id, size, linger=0)
    servers = [uuid4(), uuid4()]
    [routed] = StatusBatch.of(
        request.status_event(MessageStatus.ROUTED, server_id=servers[i % 2])
        for i, request in enumerate(requests)
    )
    [sent] = StatusBatch.of(
        request.status_event(MessageStatus.SENT, server_id=servers[i % 2])
        for i, request in enumerate(requests)
    )
    assert len(routed.events) == len(sent.events) == size

    await bus.publish_all([routed])
    await tenant.wait_for(campaign_id, lambda r: r["counts"] == {"routed": size})
    await bus.publish_all([routed])  # the same batch again, as RabbitMQ redelivers it
    await bus.wait_until_consumed("scheduler.status")
    assert (await tenant.campaign(campaign_id))["counts"] == {"routed": size}

    tenant_id = requests[0].tenant_id
    async with bus.listen(f"{tenant_id}.{campaign_id}.campaign_completed") as completed_events:
        await bus.publish_all([sent])
        report = await tenant.wait_for(campaign_id, lambda r: r["state"] == "completed")
        assert report["counts"] == {"sent": size}
        assert report["per_server"] == {str(servers[0]): size // 2, str(servers[1]): size // 2}

        await bus.publish_all([sent, routed])  # both again, after the campaign completed
        await bus.wait_until_consumed("scheduler.status")
        await completed_events.at_least(1)
        heard = list(completed_events.events)

    assert await tenant.campaign(campaign_id) == report
    assert len(heard) == 1, "the campaign completes once"


async def test_a_single_status_event_of_an_earlier_version_is_still_folded(tenant: SchedulerApi, bus: Bus):
    launched = await tenant.launched_campaign(2)
    first, second = await bus.collect_send_requests(launched["id"], 2, linger=0)
    server = uuid4()

    await bus.publish_all([first.status_event(MessageStatus.SENT, server_id=server)])  # a `StatusEvent` alone
    await tenant.wait_for(launched["id"], lambda r: r["counts"] == {"sent": 1, "queued": 1})
    await bus.publish_all([second.status_event(MessageStatus.FAILED, server_id=server)])

    report = await tenant.wait_for(launched["id"], lambda r: r["state"] == "completed")
    assert report["counts"] == {"sent": 1, "failed": 1}
    assert report["per_server"] == {str(server): 1}
