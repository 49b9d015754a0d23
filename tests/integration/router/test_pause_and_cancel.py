"""Pausing, resuming and cancelling a campaign as the router sees it, against real RabbitMQ and
PostgreSQL: the scheduler's `campaign_paused/resumed/cancelled` events are published here as
the scheduler publishes them. A pause holds (announcing no stop), a resume releases each held
message once, a cancellation drops held and later messages with a `cancelled` status each, and
a router that was down when the decision was made still honours it."""

from datetime import timedelta
from uuid import uuid4

from services.delivery.adapters.router_holds import RouterCampaignHoldsRpc
from shared.contracts import CampaignEvent, CampaignEventKind, ServerState, ServerView, utcnow
from shared.rpc import RpcClient
from tests.integration.router.harness import FakeCatalog, Traffic, eventually, message_of, per_recipient

TENANT = uuid4()


def active_server() -> ServerView:
    return ServerView(
        id=uuid4(), tenant_id=TENANT, name="relay", type="smtp", vendor="smtp", state=ServerState.ACTIVE
    )


def decided(kind: CampaignEventKind, campaign, **fields) -> CampaignEvent:
    """What the scheduler publishes on `POST /campaigns/{id}/pause|resume|cancel`."""
    return CampaignEvent(kind=kind, tenant_id=TENANT, campaign_id=campaign, **fields)


async def control_of(pool, campaign) -> str | None:
    return await pool.fetchval("SELECT state FROM campaign_controls WHERE campaign_id = $1", campaign)


async def held_count(pool, campaign) -> int:
    return await pool.fetchval("SELECT count(*) FROM held_messages WHERE campaign_id = $1", campaign)


async def test_a_pause_holds_without_announcing_a_stop_and_a_resume_releases_each_once(stack):
    server, campaign = active_server(), uuid4()
    traffic = Traffic()
    messages = [message_of(TENANT, campaign, f"r{i}@inbox.example") for i in range(6)]
    async with stack.listening() as heard, stack.replica(FakeCatalog(server), traffic):
        await stack.publish_status(decided(CampaignEventKind.PAUSED, campaign))
        await eventually(lambda: control_of(stack.pool, campaign), what="the pause recorded")
        await stack.publish_sends(messages)
        await heard.at_least(6, "held")

        assert traffic.routed == [], "nothing of a paused campaign reaches a server"
        assert heard.of("campaign_stopped") == [], "a pause is not announced as a stop"
        assert await held_count(stack.pool, campaign) == 6

        await stack.publish_status(decided(CampaignEventKind.RESUMED, campaign))
        await eventually(lambda: _routed(traffic, 6), what="every held message routed")
        await eventually(lambda: _no_stop(stack.pool, campaign), what="the pause lifted")
        delivered = per_recipient(await stack.deliveries(server))

    assert sorted(r.send.message_id for r in delivered) == sorted(m.message_id for m in messages)
    assert sorted(traffic.released) == sorted(m.message_id for m in messages), "each released once"
    assert await held_count(stack.pool, campaign) == 0
    assert await control_of(stack.pool, campaign) == "resumed"


async def test_a_cancellation_drops_held_and_later_messages_and_a_later_resume_changes_nothing(stack):
    server, campaign = active_server(), uuid4()
    traffic = Traffic()
    held = [message_of(TENANT, campaign, f"h{i}@inbox.example") for i in range(4)]
    later = [message_of(TENANT, campaign, f"l{i}@inbox.example") for i in range(3)]
    after_resume = [message_of(TENANT, campaign, f"a{i}@inbox.example") for i in range(2)]
    async with stack.listening() as heard, stack.replica(FakeCatalog(server), traffic):
        await stack.publish_status(decided(CampaignEventKind.PAUSED, campaign))
        await eventually(lambda: control_of(stack.pool, campaign), what="the pause recorded")
        await stack.publish_sends(held)
        await heard.at_least(4, "held")

        await stack.publish_status(decided(CampaignEventKind.CANCELLED, campaign))
        await heard.at_least(4, "cancelled")
        await stack.publish_sends(later)
        await heard.at_least(7, "cancelled")

        # Cancelled is final: a resume (a late or hostile one) releases nothing and routes nothing.
        await stack.publish_status(decided(CampaignEventKind.RESUMED, campaign))
        await stack.publish_status(decided(CampaignEventKind.PAUSED, campaign))
        await stack.publish_sends(after_resume)
        await heard.at_least(9, "cancelled")

    cancelled = heard.of("cancelled")
    everyone = held + later + after_resume
    assert sorted(e["message_id"] for e in cancelled) == sorted(str(m.message_id) for m in everyone)
    assert all(e["reply_text"] == "campaign cancelled by its tenant" for e in cancelled)
    assert traffic.routed == [] and traffic.released == [], "nothing reached a server"
    assert await held_count(stack.pool, campaign) == 0
    assert await control_of(stack.pool, campaign) == "cancelled"
    assert not await stack.pool.fetchval(
        "SELECT true FROM stopped_campaigns WHERE campaign_id = $1", campaign
    )


async def test_a_router_down_when_the_campaign_was_paused_still_holds_it(stack):
    server, campaign = active_server(), uuid4()
    catalog, traffic = FakeCatalog(server), Traffic()
    async with stack.replica(catalog, traffic):
        pass  # declares the shared queues, as a deployed router has long done
    # Every replica is gone when the tenant pauses; the next one starts under a new instance id.
    await stack.publish_status(decided(CampaignEventKind.PAUSED, campaign))
    messages = [message_of(TENANT, campaign, f"r{i}@inbox.example") for i in range(3)]
    async with stack.listening() as heard, stack.replica(catalog, traffic) as replica:
        await eventually(lambda: control_of(stack.pool, campaign), what="the pause recorded")
        await stack.publish_sends(messages)
        await heard.at_least(3, "held")
        assert campaign in replica.runtime.router.stopped
        # And a replica that starts now learns the pause from PostgreSQL before routing anything.
        async with stack.replica(catalog, traffic) as newcomer:
            assert campaign in newcomer.runtime.router.stopped
    assert traffic.routed == []


async def test_a_pause_older_than_the_resume_does_not_pause_again(stack):
    """The pause and the resume come through different queues: a copy of the pause that arrives
    after the resume must not hold the campaign for good."""
    server, campaign = active_server(), uuid4()
    traffic = Traffic()
    paused_at = utcnow() - timedelta(seconds=5)
    async with stack.replica(FakeCatalog(server), traffic):
        await stack.publish_status(decided(CampaignEventKind.RESUMED, campaign))
        await eventually(lambda: control_of(stack.pool, campaign), what="the resume recorded")
        await stack.publish_status(decided(CampaignEventKind.PAUSED, campaign, occurred_at=paused_at))
        await stack.publish_sends([message_of(TENANT, campaign) for _ in range(2)])
        await eventually(lambda: _routed(traffic, 2), what="both messages routed")
    assert await control_of(stack.pool, campaign) == "resumed"
    assert await held_count(stack.pool, campaign) == 0


async def test_an_event_whose_kind_does_not_match_its_routing_key_changes_nothing(stack):
    """Attack: a `campaign_cancelled` body published under the pause's routing key (or the other
    way round) is neither a pause nor a cancellation to the router."""
    server, campaign = active_server(), uuid4()
    traffic = Traffic()
    async with stack.replica(FakeCatalog(server), traffic):
        cancel = decided(CampaignEventKind.CANCELLED, campaign)
        await stack._publish("sendpool.status", [(f"{TENANT}.{campaign}.campaign_paused", cancel)])
        pause = decided(CampaignEventKind.PAUSED, campaign)
        await stack._publish("sendpool.status", [(f"{TENANT}.{campaign}.campaign_cancelled", pause)])
        await stack.publish_sends([message_of(TENANT, campaign) for _ in range(2)])
        await eventually(lambda: _routed(traffic, 2), what="both messages routed")
    assert await control_of(stack.pool, campaign) is None


async def test_a_starting_delivery_worker_is_told_what_is_paused_and_cancelled(stack):
    paused, cancelled, resumed = uuid4(), uuid4(), uuid4()
    rpc = RpcClient(stack.amqp_url, name="delivery-double")
    ask = RouterCampaignHoldsRpc(rpc, timeout_seconds=5.0)
    try:
        nothing = await ask()  # no router has ever run on this broker: nothing can be held
        async with stack.replica(FakeCatalog(active_server()), Traffic()):
            for kind, campaign in [
                (CampaignEventKind.PAUSED, paused),
                (CampaignEventKind.CANCELLED, cancelled),
                (CampaignEventKind.PAUSED, resumed),
            ]:
                await stack.publish_status(decided(kind, campaign))
            await eventually(lambda: control_of(stack.pool, resumed), what="the decisions recorded")
            await stack.publish_status(decided(CampaignEventKind.RESUMED, resumed))
            await eventually(lambda: _state_is(stack.pool, resumed, "resumed"), what="the resume recorded")
            holds = await ask()
    finally:
        await rpc.close()
    assert nothing.paused == [] and nothing.cancelled == []
    assert holds.paused == [paused] and holds.cancelled == [cancelled]


async def _state_is(pool, campaign, state: str) -> bool:
    return await control_of(pool, campaign) == state


async def _routed(traffic: Traffic, count: int) -> bool:
    return len(traffic.routed) >= count


async def _no_stop(pool, campaign) -> bool:
    return not await pool.fetchval("SELECT true FROM stopped_campaigns WHERE campaign_id = $1", campaign)
