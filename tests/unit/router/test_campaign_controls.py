"""The router's decisions for a paused or cancelled campaign, with the held store played in memory:
a cancelled campaign's messages are dropped (reported `cancelled`), never routed nor held; a
paused one's are held; a cancellation is final, and a decision of the wrong kind changes nothing."""

from datetime import datetime
from uuid import UUID, uuid4

from services.router.app.capacity import CapacityLedger
from services.router.app.ports import Decision, HoldOutcome
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

TENANT = uuid4()


class Outbound:
    def __init__(self) -> None:
        self.servers: list[UUID] = []
        self.statuses: list = []
        self.released: list[SendRequested] = []

    async def to_server(self, vendor, server_id, message) -> None:
        self.servers.append(server_id)

    async def status(self, event) -> None:
        self.statuses.append(event)

    async def back_to_routing(self, message) -> None:
        raise AssertionError("nothing goes back to routing here")

    async def release(self, messages) -> None:
        self.released.extend(messages)


class Metrics:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def decided(self, decision, server_id=None) -> None:
        self.decisions.append(decision)


class HeldInMemory:
    """`PgHeldMessages` as far as these decisions go: stops, controls and held messages in memory."""

    def __init__(self) -> None:
        self.stops: set[UUID] = set()
        self.controls: dict[UUID, tuple[str, datetime]] = {}
        self.held: list[SendRequested] = []

    async def hold(self, message, held_event) -> bool:
        if message.campaign_id not in self.stops:
            return False
        self.held.append(message)
        return True

    async def stop_and_hold(self, message, reason, stopped, held_event) -> HoldOutcome:
        if await self.is_cancelled(message.campaign_id):
            return HoldOutcome(recorded_stop=False, held=False, cancelled=True)
        self.stops.add(message.campaign_id)
        self.held.append(message)
        return HoldOutcome(recorded_stop=True, held=True)

    async def is_cancelled(self, campaign_id) -> bool:
        return self.controls.get(campaign_id, ("", None))[0] == "cancelled"

    def _record(self, event: CampaignEvent, state: str) -> bool:
        known = self.controls.get(event.campaign_id)
        if known and (known[0] == "cancelled" or (state != "cancelled" and known[1] > event.occurred_at)):
            return False
        self.controls[event.campaign_id] = (state, event.occurred_at)
        return True

    async def pause(self, event) -> bool:
        if not self._record(event, "paused"):
            return False
        self.stops.add(event.campaign_id)
        return True

    async def record_resume(self, event) -> bool:
        return self._record(event, "resumed")

    async def resume(self, campaign_id, release) -> int:
        self.stops.discard(campaign_id)
        mine = [m for m in self.held if m.campaign_id == campaign_id]
        self.held = [m for m in self.held if m.campaign_id != campaign_id]
        await release(mine)
        return len(mine)

    async def cancel(self, event) -> int:
        self._record(event, "cancelled")
        self.stops.discard(event.campaign_id)
        dropped = [m for m in self.held if m.campaign_id == event.campaign_id]
        self.held = [m for m in self.held if m.campaign_id != event.campaign_id]
        return len(dropped)

    async def campaign_controls(self, cancelled_since):
        paused = {c for c, (state, _) in self.controls.items() if state == "paused"}
        return paused, {
            c for c, (state, at) in self.controls.items() if state == "cancelled" and at >= cancelled_since
        }


class Catalog:
    """Every campaign sends through all of its tenant's servers."""

    def __init__(self, *servers: ServerView) -> None:
        self.servers = list(servers)

    async def policy(self, campaign_id, tenant_id) -> SendingPolicy:
        return SendingPolicy(campaign_id=campaign_id, tenant_id=tenant_id)

    async def snapshot(self) -> CatalogSnapshot:
        return CatalogSnapshot(last_event_id=1, servers=self.servers, plans=[], tenants=[])


def message(campaign: UUID) -> SendRequested:
    return SendRequested(
        message_id=uuid4(),
        tenant_id=TENANT,
        campaign_id=campaign,
        run_id=uuid4(),
        recipient="reader@inbox.example",
        content=MessageContent(from_address="news@sender.example", subject="hello"),
    )


def decided(kind: CampaignEventKind, campaign: UUID, **fields) -> CampaignEvent:
    return CampaignEvent(kind=kind, tenant_id=TENANT, campaign_id=campaign, **fields)


def router_with(*servers: ServerView) -> tuple[Router, Outbound, HeldInMemory, Metrics]:
    view = RoutingView()
    view.load(CatalogSnapshot(last_event_id=1, servers=list(servers), plans=[], tenants=[]))
    outbound, held, metrics = Outbound(), HeldInMemory(), Metrics()
    router = Router(
        view=view,
        catalog=Catalog(*servers),
        outbound=outbound,
        held=held,
        capacity=CapacityLedger(None),
        metrics=metrics,
    )
    router.ready.set()
    return router, outbound, held, metrics


def server(state: ServerState = ServerState.ACTIVE) -> ServerView:
    return ServerView(id=uuid4(), tenant_id=TENANT, name="relay", type="smtp", vendor="smtp", state=state)


async def test_a_cancelled_campaigns_message_is_dropped_and_reported_cancelled():
    router, outbound, held, metrics = router_with(server())
    campaign = uuid4()
    await router.campaign_cancelled(decided(CampaignEventKind.CANCELLED, campaign))
    dropped = message(campaign)
    await router.route(dropped)

    assert outbound.servers == [] and held.held == []
    [status] = outbound.statuses
    assert (status.status, status.message_id) == (MessageStatus.CANCELLED, dropped.message_id)
    assert metrics.decisions == [Decision.CANCELLED]


async def test_a_paused_campaigns_message_is_held_and_released_by_the_resume():
    router, outbound, held, _ = router_with(server())
    campaign = uuid4()
    assert await router.campaign_paused(decided(CampaignEventKind.PAUSED, campaign))
    waiting = message(campaign)
    await router.route(waiting)
    assert held.held == [waiting] and outbound.servers == []

    assert await router.resume_campaign(decided(CampaignEventKind.RESUMED, campaign)) == 1
    assert outbound.released == [waiting]


async def test_a_replica_that_thought_the_campaign_paused_learns_it_was_cancelled_when_it_routes():
    router, outbound, held, _ = router_with(server())
    campaign = uuid4()
    await router.campaign_paused(decided(CampaignEventKind.PAUSED, campaign))
    # Another replica took the cancellation: the stop is gone and the campaign cancelled in PostgreSQL.
    await held.cancel(decided(CampaignEventKind.CANCELLED, campaign))
    await router.route(message(campaign))

    assert outbound.servers == [] and [s.status for s in outbound.statuses] == [MessageStatus.CANCELLED]
    assert campaign in router.cancelled and campaign in router.stopped  # learnt, and the drop comes first


async def test_a_stop_of_a_campaign_cancelled_unknown_to_this_replica_drops_the_message():
    router, outbound, held, _ = router_with(server(ServerState.PAUSED))  # no server can send: it would stop
    campaign = uuid4()
    held.controls[campaign] = ("cancelled", datetime.now().astimezone())
    await router.route(message(campaign))

    assert held.held == [] and campaign not in router.stopped and campaign in router.cancelled
    assert [s.status for s in outbound.statuses] == [MessageStatus.CANCELLED]


async def test_cancelled_is_final_a_later_resume_or_pause_changes_nothing():
    router, outbound, held, _ = router_with(server())
    campaign = uuid4()
    await router.campaign_cancelled(decided(CampaignEventKind.CANCELLED, campaign))

    assert await router.resume_campaign(decided(CampaignEventKind.RESUMED, campaign)) == 0
    assert not await router.campaign_paused(decided(CampaignEventKind.PAUSED, campaign))
    await router.route(message(campaign))
    assert outbound.servers == [] and outbound.released == []
    assert held.controls[campaign][0] == "cancelled"


async def test_a_decision_of_another_kind_than_its_queue_changes_nothing():
    """Attack: a body saying `campaign_cancelled` under the pause's binding (or the reverse) is ignored."""
    router, outbound, held, _ = router_with(server())
    campaign = uuid4()
    assert not await router.campaign_paused(decided(CampaignEventKind.CANCELLED, campaign))
    assert await router.campaign_cancelled(decided(CampaignEventKind.PAUSED, campaign)) == 0
    assert await router.resume_campaign(decided(CampaignEventKind.CANCELLED, campaign)) == 0
    await router.route(message(campaign))
    assert len(outbound.servers) == 1 and held.controls == {}


async def test_a_worker_is_told_the_paused_and_the_recently_cancelled_campaigns():
    router, _, _, _ = router_with(server())
    paused, cancelled = uuid4(), uuid4()
    await router.campaign_paused(decided(CampaignEventKind.PAUSED, paused))
    await router.campaign_cancelled(decided(CampaignEventKind.CANCELLED, cancelled))
    long_ago = decided(CampaignEventKind.CANCELLED, uuid4(), occurred_at=datetime(2020, 1, 1).astimezone())
    await router.campaign_cancelled(long_ago)

    holds = await router.campaign_holds()
    assert holds.paused == [paused] and holds.cancelled == [cancelled]
