"""A policy another tenant stored for a campaign id (before the catalog verified owners with the
scheduler) never decides where the owner's messages go, and never stops them."""

from uuid import uuid4

from shared.contracts import CatalogEvent, CatalogEventKind, SendingPolicy, WeightedServer
from tests.integration.router.harness import FakeCatalog, Traffic, eventually, message_of, per_recipient
from tests.integration.router.test_batches import TENANT, server


async def test_a_foreign_policy_the_router_heard_of_does_not_stop_the_owners_messages(stack):
    relay = server("relay")
    catalog, campaign, traffic = FakeCatalog(relay), uuid4(), Traffic()
    squatters = SendingPolicy(
        campaign_id=campaign,
        tenant_id=uuid4(),
        use_all=False,
        selection=[WeightedServer(server_id=uuid4())],
        version=3,
    )
    messages = [message_of(TENANT, campaign, f"reader{i}@inbox.example") for i in range(3)]
    async with stack.listening() as heard, stack.replica(catalog, traffic) as replica:
        await stack.publish_catalog(
            CatalogEvent(event_id=100, kind=CatalogEventKind.POLICY_CHANGED, policy=squatters)
        )

        async def heard_of_it() -> bool:
            return replica.runtime.router.view.policies.get(campaign) == squatters

        await eventually(heard_of_it, what="the router to hear of the squatter's policy")
        await stack.publish_sends(messages)
        await heard.at_least(3, "routed")

    routed = per_recipient(await stack.deliveries(relay))
    assert sorted(str(r.send.message_id) for r in routed) == sorted(str(m.message_id) for m in messages)
    assert await stack.dead_letters() == []
