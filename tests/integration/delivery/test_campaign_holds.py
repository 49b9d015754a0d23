"""A worker must not send what sits in its servers' queues for a campaign its tenant paused or
cancelled: a paused campaign's messages go back to routing unsent (the router holds them), a
cancelled one's are dropped, reported `cancelled`; after a resume they are sent again, except
for a cancelled campaign (final). The scheduler's campaign events are published here."""

import asyncio
from uuid import uuid4

from shared.contracts import CampaignEvent, CampaignEventKind
from shared.messaging import publish_model
from shared.topology import STATUS_EXCHANGE, delivery_queue_name
from tests.integration.delivery.harness import eventually
from tests.integration.delivery.messages import delivery_requested, recipient


async def queue_message(bus, server_id, tenant_id, campaign_id):
    """A message of that campaign, put on the server's queue as a router routes it there."""
    request = delivery_requested(server_id, recipient())
    send = request.send.model_copy(update={"tenant_id": tenant_id, "campaign_id": campaign_id})
    request = request.model_copy(update={"send": send})
    await bus.publish_to_queue(request, delivery_queue_name("smtp", server_id))
    return request


async def decide(bus, worker, kind: CampaignEventKind, tenant_id, campaign_id) -> None:
    """Publish the decision as the scheduler does, and wait until the worker heard it (its log says so)."""
    event = CampaignEvent(kind=kind, tenant_id=tenant_id, campaign_id=campaign_id)
    await publish_model(bus.broker, event, exchange=STATUS_EXCHANGE, routing_key=event.routing_key)

    def heard() -> bool:
        return any(
            "campaign decision heard" in line and str(campaign_id) in line and kind.value in line
            for line in worker.log_path.read_text().splitlines()
        )

    await eventually(heard, what=f"the worker to hear {kind.value} of {campaign_id}")


async def test_a_paused_campaigns_queued_messages_go_back_to_routing_and_are_sent_after_the_resume(
    bus, worker, server_id
):
    tenant_id, campaign_id = uuid4(), uuid4()
    await decide(bus, worker, CampaignEventKind.PAUSED, tenant_id, campaign_id)

    queued = [await queue_message(bus, server_id, tenant_id, campaign_id) for _ in range(3)]
    ids = {request.send.message_id for request in queued}
    await eventually(lambda: ids <= {s.message_id for s in bus.rerouted.items}, what="all three handed back")
    handed_back = [s for s in bus.rerouted.items if s.message_id in ids]
    assert len(handed_back) == 3, "each handed back once"
    assert all(s.avoid_server_ids == [] for s in handed_back), "not steered away from a healthy server"
    assert bus.status_messages_about(ids) == [], "nothing sent, nothing reported: the router reports `held`"

    await decide(bus, worker, CampaignEventKind.RESUMED, tenant_id, campaign_id)
    again = await queue_message(bus, server_id, tenant_id, campaign_id)
    await bus.wait_for_status(again.send.message_id, "sent")


async def test_a_cancelled_campaigns_queued_messages_are_dropped_and_a_later_resume_changes_nothing(
    bus, worker, server_id
):
    tenant_id, campaign_id = uuid4(), uuid4()
    other_campaign = uuid4()
    await decide(bus, worker, CampaignEventKind.CANCELLED, tenant_id, campaign_id)

    dropped = [await queue_message(bus, server_id, tenant_id, campaign_id) for _ in range(2)]
    # Attack: the same tenant's other campaign (and anyone else's) is not held by this cancellation.
    unrelated = await queue_message(bus, server_id, tenant_id, other_campaign)
    for request in dropped:
        event = await bus.wait_for_status(request.send.message_id, "cancelled")
        assert event.reply_text == "campaign cancelled by its tenant"
    await bus.wait_for_status(unrelated.send.message_id, "sent")

    # A resume after the cancellation (late, or hostile) does not bring the campaign back.
    event = CampaignEvent(kind=CampaignEventKind.RESUMED, tenant_id=tenant_id, campaign_id=campaign_id)
    await publish_model(bus.broker, event, exchange=STATUS_EXCHANGE, routing_key=event.routing_key)
    await asyncio.sleep(0.5)  # nothing to wait for: the worker ignores it
    later = await queue_message(bus, server_id, tenant_id, campaign_id)
    await bus.wait_for_status(later.send.message_id, "cancelled")

    ids = {request.send.message_id for request in [*dropped, later]}
    assert not any(s.message_id in ids for s in bus.rerouted.items), "dropped, not handed back"
    assert bus.status_messages_about(ids, "sent") == []
