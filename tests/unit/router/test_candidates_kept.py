"""A campaign's candidate servers are worked out once for many recipients, and never outlive a
change: a server paused, a circuit opened, a policy replaced is seen by the next recipient."""

import asyncio
from uuid import UUID, uuid4

from services.router.app.capacity import CapacityLedger
from services.router.app.routing import Router
from services.router.domain import selection
from services.router.domain.view import RoutingView
from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    CatalogSnapshot,
    MessageContent,
    SendingPolicy,
    SendRequested,
    ServerHealthEvent,
    ServerState,
    ServerView,
    WeightedServer,
)

TENANT = uuid4()


class Outbound:
    def __init__(self) -> None:
        self.servers: list[UUID] = []

    async def to_server(self, vendor, server_id, message) -> None:
        self.servers.append(server_id)

    async def status(self, event) -> None:
        pass


class Metrics:
    def decided(self, decision, server_id=None) -> None:
        pass


def server(name: str) -> ServerView:
    return ServerView(
        id=uuid4(), tenant_id=TENANT, name=name, type="smtp", vendor="smtp", state=ServerState.ACTIVE
    )


def message(campaign: UUID) -> SendRequested:
    return SendRequested(
        message_id=uuid4(),
        tenant_id=TENANT,
        campaign_id=campaign,
        run_id=uuid4(),
        recipient="reader@inbox.example",
        content=MessageContent(from_address="news@sender.example", subject="hello"),
    )


def router_with(*servers: ServerView) -> tuple[Router, Outbound]:
    view = RoutingView()
    view.load(CatalogSnapshot(last_event_id=1, servers=list(servers), plans=[], tenants=[]))
    outbound = Outbound()
    router = Router(
        view=view,
        catalog=None,
        outbound=outbound,
        held=None,
        capacity=CapacityLedger(None),
        metrics=Metrics(),
    )
    router.ready.set()
    return router, outbound


def counting_eligibility(monkeypatch) -> list[UUID]:
    """Records each time a campaign's candidates are worked out from the view."""
    worked_out: list[UUID] = []
    real = selection.eligible_servers

    def eligible_servers(policy, view):
        worked_out.append(policy.campaign_id)
        return real(policy, view)

    monkeypatch.setattr("services.router.app.routing.eligible_servers", eligible_servers)
    return worked_out


def only(servers: list[ServerView], campaign: UUID) -> SendingPolicy:
    return SendingPolicy(
        campaign_id=campaign,
        tenant_id=TENANT,
        use_all=False,
        selection=[WeightedServer(server_id=s.id, weight=1) for s in servers],
    )


async def test_a_batch_of_one_campaign_works_its_candidates_out_once(monkeypatch):
    worked_out = counting_eligibility(monkeypatch)
    relay = server("relay")
    router, outbound = router_with(relay)
    campaign = uuid4()
    router.view.remember_policy(only([relay], campaign))

    await asyncio.gather(*(router.route(message(campaign)) for _ in range(50)))

    assert outbound.servers == [relay.id] * 50
    assert worked_out == [campaign]


async def test_a_paused_server_or_an_open_circuit_is_seen_by_the_next_recipient(monkeypatch):
    worked_out = counting_eligibility(monkeypatch)
    first, second = server("first"), server("second")
    router, outbound = router_with(first, second)
    campaign = uuid4()
    router.view.remember_policy(only([first, second], campaign))

    await router.route(message(campaign))
    router.view.apply(
        CatalogEvent(
            event_id=2,
            kind=CatalogEventKind.SERVER_CHANGED,
            server=first.model_copy(update={"state": ServerState.PAUSED}),
        )
    )
    for _ in range(10):
        await router.route(message(campaign))
    router.view.apply(CatalogEvent(event_id=3, kind=CatalogEventKind.SERVER_CHANGED, server=first))
    await router.route(message(campaign))  # either: both can send again
    router.view.apply_health(ServerHealthEvent(server_id=second.id, vendor="smtp", healthy=False))
    for _ in range(10):
        await router.route(message(campaign))

    assert outbound.servers[1:11] == [second.id] * 10, "not the paused server"
    assert outbound.servers[12:] == [first.id] * 10, "not the server whose circuit is open"
    assert worked_out == [campaign] * 4


async def test_a_policy_replaced_is_followed_at_once():
    first, second = server("first"), server("second")
    router, outbound = router_with(first, second)
    campaign = uuid4()
    router.view.remember_policy(only([first], campaign))

    await router.route(message(campaign))
    router.view.remember_policy(only([second], campaign).model_copy(update={"version": 1}))
    await router.route(message(campaign))

    assert outbound.servers == [first.id, second.id]


def test_a_policy_is_forgotten_only_if_no_newer_one_was_fetched_meanwhile():
    view, campaign = RoutingView(), uuid4()
    old = SendingPolicy(campaign_id=campaign, tenant_id=TENANT)
    view.remember_policy(old)
    newer = old.model_copy(update={"version": 1})
    view.remember_policy(newer)

    view.forget_policy(campaign, old)
    assert view.policies[campaign] is newer
    view.forget_policy(campaign, newer)
    assert campaign not in view.policies
