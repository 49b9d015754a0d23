"""Holding and resuming a stopped campaign against real PostgreSQL: a message is either held
before the stop is lifted (and released by that resume) or not held at all, never left behind;
what a stop or a hold must announce is recorded with it in the outbox."""

import asyncio
from uuid import UUID, uuid4

from services.router.adapters.held_store import PgHeldMessages
from services.router.app.capacity import CapacityLedger
from services.router.app.ports import Decision
from services.router.app.routing import Router
from services.router.domain.view import RoutingView
from shared.contracts import (
    CampaignEvent,
    CampaignEventKind,
    CatalogSnapshot,
    MessageContent,
    MessageStatus,
    SendingPolicy,
    SendRequested,
    ServerState,
    ServerView,
)
from tests.integration.router.doubles import CountingMetrics, Unused

TENANT = uuid4()


def message_of(campaign_id: UUID) -> SendRequested:
    return SendRequested(
        message_id=uuid4(),
        tenant_id=TENANT,
        campaign_id=campaign_id,
        run_id=uuid4(),
        recipient="reader@inbox.example",
        content=MessageContent(from_address="news@sender.example", subject="hello"),
    )


def stopped_event(campaign_id: UUID) -> CampaignEvent:
    return CampaignEvent(
        kind=CampaignEventKind.STOPPED, tenant_id=TENANT, campaign_id=campaign_id, reason="no eligible server"
    )


async def stop(held: PgHeldMessages, campaign_id: UUID) -> SendRequested:
    """Stop the campaign the way routing does: with the first message that found no server."""
    first = message_of(campaign_id)
    outcome = await held.stop_and_hold(
        first, "no eligible server", stopped_event(campaign_id), first.status_event(MessageStatus.HELD)
    )
    assert outcome.held
    return first


async def hold(held: PgHeldMessages, message: SendRequested) -> bool:
    return await held.hold(message, message.status_event(MessageStatus.HELD))


async def outbox_keys(pool, campaign_id: UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT routing_key FROM outbox WHERE routing_key LIKE $1 ORDER BY id", f"%.{campaign_id}.%"
    )
    return [row["routing_key"].rsplit(".", 1)[1] for row in rows]


async def test_a_message_is_held_only_while_its_campaign_is_stopped(database, pool):
    held, campaign = PgHeldMessages(database), uuid4()
    first = await stop(held, campaign)
    before, after = message_of(campaign), message_of(campaign)

    assert await hold(held, before) is True
    released: list[UUID] = []
    assert await held.resume(campaign, lambda m: _record(released, m)) == 2
    assert await hold(held, after) is False

    assert released == [first.message_id, before.message_id]
    assert await held.resume(campaign, lambda m: _record(released, m)) == 0
    # The stop and each hold were announced with them, the stop first; the refused hold was not.
    assert await outbox_keys(pool, campaign) == ["campaign_stopped", "held", "held"]


async def test_a_second_stop_is_not_announced_again(database, pool):
    held, campaign = PgHeldMessages(database), uuid4()
    await stop(held, campaign)
    again = message_of(campaign)

    outcome = await held.stop_and_hold(
        again, "no eligible server", stopped_event(campaign), again.status_event(MessageStatus.HELD)
    )

    assert outcome.held and not outcome.recorded_stop
    assert await outbox_keys(pool, campaign) == ["campaign_stopped", "held", "held"]


async def test_holds_racing_a_resume_are_all_released_or_refused(database, pool):
    """Before holds checked the stop under a lock, the holds that landed after the resume's last
    batch stayed in the table, waiting for a resume that might never come."""
    held, campaign = PgHeldMessages(database), uuid4()
    first = await stop(held, campaign)
    messages = [message_of(campaign) for _ in range(300)]
    released: list[UUID] = []

    async def hold_at(seconds: float, message: SendRequested) -> bool:
        await asyncio.sleep(seconds)
        return await hold(held, message)

    async def resume_at(seconds: float) -> int:
        await asyncio.sleep(seconds)
        return await held.resume(campaign, lambda m: _record(released, m))

    # Holds arrive before, around and well after the resume, as from replicas that learn of it late.
    arrivals = [i * 0.001 for i in range(200)] + [0.4 + i * 0.001 for i in range(100)]
    *holds, resumed = await asyncio.gather(
        *(hold_at(at, m) for at, m in zip(arrivals, messages, strict=True)), resume_at(0.1)
    )

    left = await pool.fetchval("SELECT count(*) FROM held_messages WHERE campaign_id = $1", campaign)
    assert left == 0
    assert resumed == len(released) == sum(holds) + 1
    kept = [m.message_id for m, was_held in zip(messages, holds, strict=True) if was_held]
    assert sorted(released) == sorted([first.message_id, *kept])


async def _record(released: list[UUID], messages: list[SendRequested]) -> None:
    released.extend(message.message_id for message in messages)


class RecordingOutbound:
    def __init__(self) -> None:
        self.to_servers: list[UUID] = []
        self.statuses: list[str] = []

    async def to_server(self, vendor, server_id, message) -> None:
        self.to_servers.append(server_id)

    async def status(self, event) -> None:
        self.statuses.append(event.status)

    async def back_to_routing(self, message) -> None:
        raise AssertionError("the router routes the message itself")

    async def wait(self, message, seconds) -> None:
        raise AssertionError("no server here is capped")


class CurrentPolicies:
    """The catalog, asked for a resumed campaign's policy as it is now (the cached one may be old)."""

    async def policy(self, campaign_id: UUID, tenant_id: UUID) -> SendingPolicy:
        return SendingPolicy(campaign_id=campaign_id, tenant_id=tenant_id)


async def test_a_replica_that_missed_the_resume_routes_instead_of_holding(database):
    """The replica still lists the campaign as stopped, but PostgreSQL says it was resumed."""
    campaign = uuid4()
    server = ServerView(
        id=uuid4(), tenant_id=TENANT, name="relay", type="smtp", vendor="smtp", state=ServerState.ACTIVE
    )
    view = RoutingView()
    view.load(CatalogSnapshot(last_event_id=1, servers=[server], plans=[], tenants=[]))
    view.remember_policy(SendingPolicy(campaign_id=campaign, tenant_id=TENANT))
    outbound, metrics = RecordingOutbound(), CountingMetrics()
    router = Router(
        view=view,
        catalog=CurrentPolicies(),
        outbound=outbound,
        held=PgHeldMessages(database),
        capacity=CapacityLedger(Unused()),
        metrics=metrics,
        stopped={campaign},
    )
    router.ready.set()

    await router.route(message_of(campaign))

    assert outbound.to_servers == [server.id]
    assert outbound.statuses == ["routed"]
    assert metrics.decisions == [Decision.ROUTED]
    assert campaign not in router.stopped
