"""Holding and resuming a stopped campaign against real PostgreSQL: a message is either held
before the stop is lifted (and released by that resume) or not held at all, never left behind."""

import asyncio
from uuid import UUID, uuid4

from services.router.adapters.held_store import PgHeldMessages
from services.router.app.capacity import CapacityLedger
from services.router.app.routing import Decision, Router
from services.router.domain.view import RoutingView
from shared.contracts import (
    CatalogSnapshot,
    MessageContent,
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


async def test_a_message_is_held_only_while_its_campaign_is_stopped(pool):
    held, campaign = PgHeldMessages(pool), uuid4()
    before, after = message_of(campaign), message_of(campaign)
    await held.stop(campaign, "no eligible server")

    assert await held.hold(before) is True
    released: list[UUID] = []
    assert await held.resume(campaign, lambda m: _record(released, m)) == 1
    assert await held.hold(after) is False

    assert released == [before.message_id]
    assert await held.resume(campaign, lambda m: _record(released, m)) == 0


async def test_holds_racing_a_resume_are_all_released_or_refused(pool):
    """Before holds checked the stop under a lock, the holds that landed after the resume's last
    batch stayed in the table, waiting for a resume that might never come."""
    held, campaign = PgHeldMessages(pool), uuid4()
    await held.stop(campaign, "no eligible server")
    messages = [message_of(campaign) for _ in range(300)]
    released: list[UUID] = []

    async def hold_at(seconds: float, message: SendRequested) -> bool:
        await asyncio.sleep(seconds)
        return await held.hold(message)

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
    assert resumed == len(released) == sum(holds)
    assert sorted(released) == sorted(m.message_id for m, kept in zip(messages, holds, strict=True) if kept)


async def _record(released: list[UUID], message: SendRequested) -> None:
    released.append(message.message_id)


class RecordingOutbound:
    def __init__(self) -> None:
        self.to_servers: list[UUID] = []
        self.statuses: list[str] = []

    async def to_server(self, vendor, server_id, message) -> None:
        self.to_servers.append(server_id)

    async def status(self, event) -> None:
        self.statuses.append(event.status)

    async def campaign(self, event) -> None:
        raise AssertionError("nothing here stops a campaign")

    async def back_to_routing(self, message) -> None:
        raise AssertionError("the router routes the message itself")

    async def wait(self, message, seconds) -> None:
        raise AssertionError("no server here is capped")


async def test_a_replica_that_missed_the_resume_routes_instead_of_holding(pool):
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
        catalog=Unused(),
        outbound=outbound,
        held=PgHeldMessages(pool),
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
