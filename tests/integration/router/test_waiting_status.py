"""A message that waits for capacity says so: a `waiting` status event with when it comes back,
published beside the message's trip through a delay queue (real RabbitMQ and PostgreSQL)."""

from datetime import datetime, timedelta
from uuid import uuid4

from shared.contracts import SendingLimits, ServerState, ServerView
from tests.integration.router.harness import FakeCatalog, Traffic, message_of

TENANT = uuid4()


async def test_a_message_waiting_for_capacity_is_announced_with_when_it_comes_back(stack):
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
        stack.listening() as heard,
        stack.replica(FakeCatalog(server), traffic),
    ):
        await stack.publish_sends([first])
        await heard.at_least(1, "routed")
        await stack.publish_sends([second])
        await heard.at_least(1, "waiting")

    (waiting,) = heard.of("waiting")
    assert waiting["message_id"] == str(second.message_id)
    assert waiting["campaign_id"] == str(campaign)
    # It comes back from the delay queue whose step ends by the time the minute has room again.
    waits = datetime.fromisoformat(waiting["retry_at"]) - datetime.fromisoformat(waiting["occurred_at"])
    assert timedelta(seconds=0.5) < waits <= timedelta(seconds=61)
    assert [e["server_id"] for e in waiting["decision"]["excluded"]] == [str(server.id)]
    assert "1 per minute" in waiting["decision"]["excluded"][0]["reason"]
    assert traffic.routed == [first.message_id]
