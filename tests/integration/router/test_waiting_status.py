"""A message that waits for capacity says so: a `waiting` status event with when it comes back,
published beside the message's trip through a delay queue (real RabbitMQ and PostgreSQL)."""

from datetime import datetime, timedelta
from uuid import uuid4

from shared.contracts import SendingLimits, ServerState, ServerView
from tests.integration.router.harness import (
    FakeCatalog,
    Traffic,
    eventually,
    listening,
    message_of,
    publish_sends,
    router_replica,
)

TENANT = uuid4()


async def test_a_message_waiting_for_capacity_is_announced_with_when_it_comes_back(own_vhost, own_pool):
    server = ServerView(
        id=uuid4(),
        tenant_id=TENANT,
        name="capped",
        type="smtp",
        vendor="smtp",
        state=ServerState.ACTIVE,
        limits=SendingLimits(per_minute=1),
    )
    campaign, traffic = uuid4(), Traffic()
    first, second = message_of(TENANT, campaign), message_of(TENANT, campaign, "other@inbox.example")
    async with (
        listening(own_vhost) as heard,
        router_replica(own_vhost, own_pool, FakeCatalog(server), traffic),
    ):
        await publish_sends(own_vhost, [first])
        await eventually(lambda: _heard(heard, "routed", 1), what="the first message routed")
        await publish_sends(own_vhost, [second])
        await eventually(lambda: _heard(heard, "waiting", 1), what="the second message's waiting status")

    (waiting,) = heard.of("waiting")
    assert waiting["message_id"] == str(second.message_id)
    assert waiting["campaign_id"] == str(campaign)
    # It comes back from the delay queue whose step ends by the time the minute has room again.
    waits = datetime.fromisoformat(waiting["retry_at"]) - datetime.fromisoformat(waiting["occurred_at"])
    assert timedelta(seconds=0.5) < waits <= timedelta(seconds=61)
    assert [e["server_id"] for e in waiting["decision"]["excluded"]] == [str(server.id)]
    assert "1 per minute" in waiting["decision"]["excluded"][0]["reason"]
    assert traffic.routed == [first.message_id]


async def _heard(heard, status: str, count: int) -> bool:
    return len(heard.of(status)) >= count
