"""Stopping and resuming a campaign against real RabbitMQ and PostgreSQL, with router replicas
that fail, die and start afresh: a stop is always announced, and a resume always releases every
held message, whichever replica hears of it and wherever it fails."""

from uuid import uuid4

from shared.contracts import CampaignEvent, CampaignEventKind, ServerState, ServerView
from tests.integration.router.harness import FakeCatalog, Traffic, eventually, message_of

TENANT = uuid4()


def paused_server() -> ServerView:
    return ServerView(
        id=uuid4(), tenant_id=TENANT, name="relay", type="smtp", vendor="smtp", state=ServerState.PAUSED
    )


def resumed(campaign) -> CampaignEvent:
    """What the scheduler publishes on `POST /campaigns/{id}/resume`."""
    return CampaignEvent(kind=CampaignEventKind.RESUMED, tenant_id=TENANT, campaign_id=campaign)


async def held_count(pool, campaign) -> int:
    return await pool.fetchval("SELECT count(*) FROM held_messages WHERE campaign_id = $1", campaign)


async def is_stopped(pool, campaign) -> bool:
    return bool(await pool.fetchval("SELECT true FROM stopped_campaigns WHERE campaign_id = $1", campaign))


async def test_a_stop_is_announced_even_when_its_first_publish_fails(stack):
    """Before the outbox, the stop was committed first and announced after: when that publish
    failed, the redelivered message found the campaign stopped, held it, and nobody ever
    announced the stop, so the scheduler showed the campaign running for good."""
    server, campaign = paused_server(), uuid4()
    messages = [message_of(TENANT, campaign) for _ in range(3)]
    async with (
        stack.listening() as heard,
        stack.replica(FakeCatalog(server), Traffic()) as replica,
    ):
        # The outbox relay publishes through the campaign-events publisher.
        publish = replica.runtime.publishers.campaign_events.publish
        failed: list[str] = []

        async def first_stop_announcement_fails(*args, **kwargs):
            if kwargs.get("routing_key", "").endswith(".campaign_stopped") and not failed:
                failed.append(kwargs["routing_key"])
                raise ConnectionResetError("the broker connection broke while publishing")
            return await publish(*args, **kwargs)

        replica.runtime.publishers.campaign_events.publish = first_stop_announcement_fails
        await stack.publish_sends(messages)

        async def announced():
            held_ids = {e["message_id"] for e in heard.of("held")}
            return len(heard.of("campaign_stopped")) >= 1 and len(held_ids) == 3

        await eventually(announced, what="campaign_stopped and three held events")

    assert failed, "the first announcement did fail"
    # At least once: what went out with the failed batch may go out again, so consumers dedupe.
    stopped = heard.of("campaign_stopped")[0]
    assert stopped["campaign_id"] == str(campaign)
    assert [e["server_id"] for e in stopped["servers"]] == [str(server.id)]
    assert {e["message_id"] for e in heard.of("held")} == {str(m.message_id) for m in messages}
    assert await is_stopped(stack.pool, campaign) and await held_count(stack.pool, campaign) == 3
    assert await stack.pool.fetchval("SELECT count(*) FROM outbox") == 0, "everything recorded was published"


async def test_a_router_started_after_the_resume_still_releases_the_held_messages(stack):
    """Resumes used to reach only the queues of the replicas running then: a router that
    restarted (a new instance) never heard of it, and the held messages stayed held."""
    server, campaign = paused_server(), uuid4()
    catalog, traffic = FakeCatalog(server), Traffic()
    messages = [message_of(TENANT, campaign) for _ in range(5)]
    async with stack.listening() as heard:
        async with stack.replica(catalog, traffic):
            await stack.publish_sends(messages)
            await heard.at_least(5, "held")

        # Every replica is gone when the campaign is resumed …
        catalog.set_state(server.id, ServerState.ACTIVE)
        await stack.publish_status(resumed(campaign))

        # … and the one that starts afterwards, with an instance id of its own, releases them.
        async with stack.replica(catalog, traffic):
            await eventually(lambda: _all_routed(traffic, messages), what="every held message routed")
            await eventually(lambda: _not_stopped(stack.pool, campaign), what="the stop to be forgotten")

    assert await held_count(stack.pool, campaign) == 0
    assert sorted(traffic.released) == sorted(m.message_id for m in messages)


async def test_a_resume_that_dies_half_way_is_finished_by_another_replica(stack):
    """Resume used to forget the stop first and release afterwards: a replica that died half way
    left the rest held under no stop, and no resume was coming for them."""
    server, campaign = paused_server(), uuid4()
    catalog, traffic = FakeCatalog(server), Traffic()
    messages = [message_of(TENANT, campaign) for _ in range(30)]
    async with stack.listening() as heard:
        async with stack.replica(catalog, traffic, release_batch=10) as dying:
            await stack.publish_sends(messages)
            await heard.at_least(30, "held")

            # Its broker connection breaks once the second batch of releases is out (confirmed),
            # before that batch's deletion commits, and stays broken.
            broke: list[bool] = []

            def after_the_second_batch(_messages) -> bool:
                if len(traffic.released) >= 20 and not broke:
                    broke.append(True)
                    return True
                return False

            dying.outbound.break_after_release = after_the_second_batch
            dying.outbound.fail_release = lambda _messages: bool(broke)
            # The catalog announces the server enabled, so the replica stops draining its queue
            # before the resume routes the held messages there.
            await stack.publish_catalog(catalog.set_state(server.id, ServerState.ACTIVE))
            await eventually(
                _async(lambda: not dying.runtime.drainers.draining(server.id)), what="the drainer to stop"
            )
            await stack.publish_status(resumed(campaign))
            await eventually(_async(lambda: bool(broke)), what="the release to break")
        # The replica is gone (as if it crashed), with 20 of 30 released and the first 10 deleted.
        assert await held_count(stack.pool, campaign) == 20

        async with stack.replica(catalog, traffic, release_batch=10):
            await eventually(lambda: _all_routed(traffic, messages), what="every held message routed")
            await eventually(lambda: _not_stopped(stack.pool, campaign), what="the stop to be forgotten")

    assert await held_count(stack.pool, campaign) == 0
    assert set(traffic.released) == {m.message_id for m in messages}
    # The batch that broke was published before its transaction rolled back: it goes again (one
    # batch at most), under the same message ids (downstream is idempotent on them).
    assert len(traffic.released) - len(set(traffic.released)) == 10


async def test_the_sweeper_releases_held_messages_no_resume_will_come_for(stack):
    """A resume that died after the stop was deleted (as resumes did before) or whose event was
    given up on (dead-lettered while its stop was being lifted) leaves held messages that no
    resume will come for; the sweeper sends them back to routing, and leaves the messages of a
    campaign that is still stopped alone."""
    server = paused_server()
    stop_gone, stop_lifting, still_stopped = uuid4(), uuid4(), uuid4()
    catalog, traffic = FakeCatalog(server), Traffic()
    orphans = [message_of(TENANT, campaign) for campaign in (stop_gone, stop_lifting) for _ in range(6)]
    kept = [message_of(TENANT, still_stopped) for _ in range(3)]
    async with stack.listening() as heard:
        async with stack.replica(catalog, traffic):
            await stack.publish_sends(orphans + kept)
            await heard.at_least(15, "held")
        await stack.pool.execute("DELETE FROM stopped_campaigns WHERE campaign_id = $1", stop_gone)
        await stack.pool.execute(
            "UPDATE stopped_campaigns SET resuming_since = now() WHERE campaign_id = $1", stop_lifting
        )
        catalog.set_state(server.id, ServerState.ACTIVE)

        async with stack.replica(catalog, traffic, sweep_seconds=0.2):
            await eventually(lambda: _all_routed(traffic, orphans), what="the orphans routed")
            await eventually(lambda: _not_stopped(stack.pool, stop_lifting), what="the lifted stop to go")

    assert await held_count(stack.pool, stop_gone) == await held_count(stack.pool, stop_lifting) == 0
    assert sorted(traffic.released) == sorted(m.message_id for m in orphans)
    assert await held_count(stack.pool, still_stopped) == 3 and await is_stopped(stack.pool, still_stopped)


async def _all_routed(traffic: Traffic, messages) -> bool:
    return {m.message_id for m in messages} <= set(traffic.routed)


async def _not_stopped(pool, campaign) -> bool:
    return not await is_stopped(pool, campaign)


def _async(predicate):
    async def check():
        return predicate()

    return check
