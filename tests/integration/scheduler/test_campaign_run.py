"""A campaign from launch to completion: expansion onto the router's queue, then status events."""

from uuid import uuid4

from shared.contracts import MessageStatus
from tests.integration.scheduler.harness import Bus, SchedulerApi

SIZE = 1_200


async def test_a_launched_campaign_is_expanded_then_completed_by_final_statuses(
    tenant: SchedulerApi, bus: Bus
):
    launched = await tenant.launched_campaign(SIZE)
    campaign_id = launched["id"]

    requests = await bus.collect_send_requests(campaign_id, SIZE)

    assert len(requests) == SIZE
    assert len({request.message_id for request in requests}) == SIZE
    assert {request.recipient for request in requests} == {f"user{i}@example.com" for i in range(SIZE)}
    assert {str(request.run_id) for request in requests} == {launched["run_id"]}
    assert all(request.content.subject == "Spring sale" for request in requests)
    report = await tenant.wait_for(campaign_id, lambda r: r["expanded"] == SIZE)
    assert report["total"] == SIZE
    assert report["counts"] == {"queued": SIZE}

    servers = [uuid4(), uuid4()]
    sent, failed = requests[:1_000], requests[1_000:]
    tenant_id = requests[0].tenant_id
    async with bus.listen(f"{tenant_id}.{campaign_id}.campaign_completed") as completed_events:
        await bus.publish_statuses(
            request.status_event(MessageStatus.ROUTED, server_id=servers[i % 2])
            for i, request in enumerate(requests)
        )
        await bus.publish_statuses(
            [
                request.status_event(MessageStatus.SENT, server_id=servers[i % 2])
                for i, request in enumerate(sent)
            ]
            + [request.status_event(MessageStatus.FAILED, server_id=servers[0]) for request in failed]
        )
        # Redeliveries and stragglers once everything is final: neither may change a count.
        await bus.publish_statuses(
            [request.status_event(MessageStatus.SENT, server_id=servers[0]) for request in sent[:100]]
            + [request.status_event(MessageStatus.ROUTED, server_id=servers[1]) for request in requests[:100]]
        )

        report = await tenant.wait_for(campaign_id, lambda r: r["state"] == "completed")
        await bus.wait_until_consumed("scheduler.status")
        events = list(completed_events.events)

    report = await tenant.campaign(campaign_id)
    assert report["state"] == "completed"
    assert report["counts"] == {"sent": 1_000, "failed": 200}
    assert report["per_server"] == {str(servers[0]): 500, str(servers[1]): 500}
    assert len(events) == 1
    assert events[0]["kind"] == "campaign_completed"
    assert events[0]["campaign_id"] == campaign_id


async def test_a_late_event_never_moves_a_message_back(tenant: SchedulerApi, bus: Bus):
    launched = await tenant.launched_campaign(3)
    first, second, third = sorted(
        await bus.collect_send_requests(launched["id"], 3, linger=0), key=lambda r: r.recipient
    )
    server = uuid4()

    await bus.publish_statuses(
        [
            first.status_event(MessageStatus.SENT, server_id=server),
            second.status_event(MessageStatus.DEFERRED, server_id=server),
            third.status_event(MessageStatus.ROUTED, server_id=server),
        ]
    )
    await bus.wait_until_consumed("scheduler.status")
    await bus.publish_statuses(
        [
            first.status_event(MessageStatus.ROUTED, server_id=server),  # the straggler of a sent message
            second.status_event(MessageStatus.ROUTED, server_id=server),  # routed again for a second try...
            second.status_event(MessageStatus.ROUTED, server_id=server, attempt=2),  # ...which counts
            third.status_event(MessageStatus.ROUTED, server_id=server),  # a redelivery
            third.status_event(MessageStatus.BOUNCED, server_id=server),  # counted beside the states
        ]
    )
    await bus.wait_until_consumed("scheduler.status")

    report = await tenant.campaign(launched["id"])
    assert report["counts"] == {"sent": 1, "routed": 2, "bounced": 1}
    assert report["per_server"] == {str(server): 1}
    assert report["state"] == "running"


async def test_the_final_word_of_an_earlier_attempt_ends_a_message_routed_again(
    tenant: SchedulerApi, bus: Bus
):
    """Seen in `make chaos`: attempt 1 was deferred and its retry (attempt 2) routed, then a
    redelivered copy of attempt 1 was sent; attempt 2's copy settled from that record. Ignoring
    `sent` of attempt 1 left the message `routed` and the campaign running for good."""
    launched = await tenant.launched_campaign(1)
    [request] = await bus.collect_send_requests(launched["id"], 1, linger=0)
    server, other = uuid4(), uuid4()

    await bus.publish_statuses([request.status_event(MessageStatus.DEFERRED, server_id=server)])
    await bus.publish_statuses([request.status_event(MessageStatus.ROUTED, server_id=other, attempt=2)])
    await bus.wait_until_consumed("scheduler.status")
    await bus.publish_statuses([request.status_event(MessageStatus.SENT, server_id=server, attempt=1)])

    report = await tenant.wait_for(launched["id"], lambda r: r["state"] == "completed")
    assert report["counts"] == {"sent": 1}
    assert report["per_server"] == {str(server): 1}


async def test_events_of_unknown_runs_are_ignored(tenant: SchedulerApi, bus: Bus):
    launched = await tenant.launched_campaign(1)
    [request] = await bus.collect_send_requests(launched["id"], 1, linger=0)
    stranger = request.model_copy(update={"run_id": uuid4(), "message_id": uuid4()})

    await bus.publish_statuses(
        [stranger.status_event(MessageStatus.SENT), request.status_event(MessageStatus.SENT)]
    )

    report = await tenant.wait_for(launched["id"], lambda r: r["state"] == "completed")
    assert report["counts"] == {"sent": 1}
