"""Campaign decisions on sendpool.status, and what happens to messages the scheduler cannot read."""

from uuid import uuid4

from shared.contracts import CampaignEvent, CampaignEventKind, Exclusion, MessageStatus
from shared.messaging import DEAD_REASON_HEADER
from tests.integration.scheduler.harness import POLL_SECONDS, Bus, SchedulerApi
from tests.support.waiting import eventually_async


async def test_the_router_stopping_a_campaign_stops_it_until_the_tenant_resumes_it(
    tenant: SchedulerApi, bus: Bus
):
    launched = await tenant.launched_campaign(2)
    campaign_id = launched["id"]
    requests = await bus.collect_send_requests(campaign_id, 2, linger=0)
    tenant_id = requests[0].tenant_id
    inactive, disabled = uuid4(), uuid4()
    stopped = CampaignEvent(
        kind=CampaignEventKind.STOPPED,
        tenant_id=tenant_id,
        campaign_id=requests[0].campaign_id,
        reason="no selected server is active",
        servers=[
            Exclusion(server_id=inactive, reason="inactive"),
            Exclusion(server_id=disabled, reason="disabled"),
        ],
    )

    await bus.publish(stopped, stopped.routing_key)

    report = await tenant.wait_for(campaign_id, lambda r: r["state"] == "stopped")
    assert report["stop_reason"] == (
        f"no selected server is active (server {inactive}: inactive; server {disabled}: disabled)"
    )

    async with bus.listen(f"{tenant_id}.{campaign_id}.campaign_resumed") as resumed_events:
        response = await tenant.request("POST", f"/campaigns/{campaign_id}/resume")
        assert response.status_code == 202
        assert response.json()["state"] == "running"
        assert response.json()["stop_reason"] is None
        [resumed] = await resumed_events.at_least(1)
    assert resumed["kind"] == "campaign_resumed"
    assert resumed["campaign_id"] == campaign_id

    # The scheduler hears its own resumed event too, and leaves the campaign running.
    await bus.wait_until_consumed("scheduler.status")
    assert (await tenant.campaign(campaign_id))["state"] == "running"
    assert (await tenant.request("POST", f"/campaigns/{campaign_id}/resume")).status_code == 409

    await bus.publish_statuses(request.status_event(MessageStatus.SENT) for request in requests)
    report = await tenant.wait_for(campaign_id, lambda r: r["state"] == "completed")
    assert report["counts"] == {"sent": 2}


async def test_a_stop_for_another_tenant_or_a_finished_campaign_changes_nothing(
    tenant: SchedulerApi, bus: Bus
):
    launched = await tenant.launched_campaign(1)
    [request] = await bus.collect_send_requests(launched["id"], 1, linger=0)
    await bus.publish_statuses([request.status_event(MessageStatus.SENT)])
    await tenant.wait_for(launched["id"], lambda r: r["state"] == "completed")
    draft = await tenant.create_campaign((await tenant.create_list())["id"])

    for tenant_id, campaign_id in [(request.tenant_id, request.campaign_id), (uuid4(), draft["id"])]:
        stop = CampaignEvent(
            kind=CampaignEventKind.STOPPED, tenant_id=tenant_id, campaign_id=campaign_id, reason="x"
        )
        await bus.publish(stop, stop.routing_key)
    await bus.wait_until_consumed("scheduler.status")

    assert (await tenant.campaign(launched["id"]))["state"] == "completed"
    assert (await tenant.campaign(draft["id"]))["state"] == "draft"


async def test_an_unreadable_event_is_dead_lettered_and_the_next_one_is_processed(
    tenant: SchedulerApi, bus: Bus
):
    launched = await tenant.launched_campaign(1)
    [request] = await bus.collect_send_requests(launched["id"], 1, linger=0)
    not_json, wrong_shape = str(uuid4()), str(uuid4())

    await bus.publish(b"{not json", "junk.junk.sent", message_id=not_json)
    await bus.publish(b'{"status": "sent", "message_id": "nope"}', "junk.junk.sent", message_id=wrong_shape)
    await bus.publish_statuses([request.status_event(MessageStatus.SENT)])

    await tenant.wait_for(launched["id"], lambda r: r["state"] == "completed")

    dead_letters = {}

    async def both_dead_lettered() -> bool:
        dead_letters.update({message.message_id: message for message in await bus.dead_letters()})
        return {not_json, wrong_shape} <= dead_letters.keys()

    await eventually_async(
        both_dead_lettered, timeout_seconds=15.0, interval_seconds=POLL_SECONDS, what="both in sendpool.dead"
    )
    for message_id in (not_json, wrong_shape):
        reason = dead_letters[message_id].headers[DEAD_REASON_HEADER]
        assert reason.startswith("malformed message"), reason
    assert "message_id" in dead_letters[wrong_shape].headers[DEAD_REASON_HEADER]
