"""When the webhooks service follows a tenant on the public stream: before its first endpoint exists,
until its last one is gone, and everyone with endpoints at start-up (with fakes for the ports)."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import aiormq.exceptions
import pytest

from services.webhooks.adapters.rabbit import RabbitStreamSubscriptions, tenant_binding
from services.webhooks.app.endpoints import EndpointRules, Endpoints
from services.webhooks.app.ports import NewEndpoint
from services.webhooks.app.subscriptions import ReconcileSubscriptions
from services.webhooks.domain.endpoints import Endpoint
from services.webhooks.entrypoints.subscribers import EVENTS_QUEUE
from shared.errors import DependencyUnavailable

URL = "https://hooks.example.com/sendpool"


class Journal:
    """What happened, in order, across the store and the subscriptions."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, UUID | None]] = []


class FakeStore:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.endpoints: dict[UUID, UUID] = {}  # endpoint id -> tenant id
        self.created_meanwhile: NewEndpoint | None = None
        """Committed by another request right after the next delete (the race `delete` guards against)."""

    async def create(self, endpoint: NewEndpoint, *, max_per_tenant: int) -> Endpoint:
        self.endpoints[endpoint.id] = endpoint.tenant_id
        self.journal.steps.append(("commit", endpoint.tenant_id))
        now = datetime.now(UTC)
        return Endpoint(
            endpoint.id, endpoint.tenant_id, endpoint.url, "", None, True, None, now, now, None, None
        )

    async def delete(self, tenant_id: UUID, endpoint_id: UUID) -> bool:
        if self.endpoints.get(endpoint_id) != tenant_id:
            return False
        del self.endpoints[endpoint_id]
        self.journal.steps.append(("delete", tenant_id))
        return True

    async def has_endpoints(self, tenant_id: UUID) -> bool:
        found = tenant_id in self.endpoints.values()
        if self.created_meanwhile is not None and not found:
            self.endpoints[self.created_meanwhile.id] = self.created_meanwhile.tenant_id
            self.created_meanwhile = None
        return found

    async def tenants_with_endpoints(self) -> list[UUID]:
        return sorted(set(self.endpoints.values()))


class FakeSubscriptions:
    def __init__(self, journal: Journal, *, unreachable: bool = False) -> None:
        self.journal = journal
        self.unreachable = unreachable
        self.followed: set[UUID] = set()

    async def follow(self, tenant_id: UUID) -> None:
        if self.unreachable:
            raise DependencyUnavailable("the event stream cannot be reached")
        self.followed.add(tenant_id)
        self.journal.steps.append(("follow", tenant_id))

    async def unfollow(self, tenant_id: UUID) -> None:
        if self.unreachable:
            raise DependencyUnavailable("the event stream cannot be reached")
        self.followed.discard(tenant_id)
        self.journal.steps.append(("unfollow", tenant_id))

    async def stop_following_everything(self) -> None:
        self.journal.steps.append(("stop everything", None))


class AnyDestination:
    async def refusal(self, host: str, port: int) -> str | None:
        return None


class PlainBox:
    def seal(self, secret: str) -> str:
        return f"sealed:{secret}"

    def open(self, sealed: str) -> str:
        return sealed.removeprefix("sealed:")


def endpoints_with(store: FakeStore, subscriptions: FakeSubscriptions) -> Endpoints:
    rules = EndpointRules(
        max_per_tenant=5,
        url_max_length=2000,
        allow_http=False,
        secret_grace=timedelta(hours=1),
        replay_max_events=10,
    )
    return Endpoints(store, PlainBox(), AnyDestination(), subscriptions, rules)  # type: ignore[arg-type]


async def test_a_tenant_is_followed_before_its_endpoint_is_committed():
    journal = Journal()
    tenant = uuid4()
    await endpoints_with(FakeStore(journal), FakeSubscriptions(journal)).create(tenant, URL, None, "")
    assert journal.steps[:2] == [("follow", tenant), ("commit", tenant)]


async def test_no_endpoint_is_created_while_the_stream_is_unreachable():
    journal = Journal()
    store = FakeStore(journal)
    with pytest.raises(DependencyUnavailable):
        await endpoints_with(store, FakeSubscriptions(journal, unreachable=True)).create(
            uuid4(), URL, None, ""
        )
    assert store.endpoints == {}


async def test_a_tenant_is_unfollowed_with_its_last_endpoint_only():
    journal = Journal()
    store, subscriptions = FakeStore(journal), FakeSubscriptions(journal)
    endpoints = endpoints_with(store, subscriptions)
    tenant, neighbour = uuid4(), uuid4()
    first = await endpoints.create(tenant, URL, None, "")
    second = await endpoints.create(tenant, URL, None, "")
    await endpoints.create(neighbour, URL, None, "")
    await endpoints.delete(tenant, first.id)
    assert tenant in subscriptions.followed
    await endpoints.delete(tenant, second.id)
    assert subscriptions.followed == {neighbour}
    assert journal.steps[-2:] == [("delete", tenant), ("unfollow", tenant)]  # after the delete committed


async def test_another_tenants_endpoint_cannot_be_deleted_nor_unfollow_its_owner():
    journal = Journal()
    store, subscriptions = FakeStore(journal), FakeSubscriptions(journal)
    endpoints = endpoints_with(store, subscriptions)
    owner = uuid4()
    endpoint = await endpoints.create(owner, URL, None, "")
    with pytest.raises(Exception, match="no webhook endpoint"):
        await endpoints.delete(uuid4(), endpoint.id)
    assert subscriptions.followed == {owner}


async def test_a_failed_unfollow_does_not_fail_the_deletion():
    journal = Journal()
    store, subscriptions = FakeStore(journal), FakeSubscriptions(journal)
    endpoints = endpoints_with(store, subscriptions)
    tenant = uuid4()
    endpoint = await endpoints.create(tenant, URL, None, "")
    subscriptions.unreachable = True
    await endpoints.delete(tenant, endpoint.id)  # does not raise
    assert store.endpoints == {}


async def test_an_endpoint_registered_while_the_last_one_goes_keeps_its_tenant_followed():
    journal = Journal()
    store, subscriptions = FakeStore(journal), FakeSubscriptions(journal)
    endpoints = endpoints_with(store, subscriptions)
    tenant = uuid4()
    endpoint = await endpoints.create(tenant, URL, None, "")
    store.created_meanwhile = NewEndpoint(uuid4(), tenant, URL, "", None, "sealed")
    await endpoints.delete(tenant, endpoint.id)
    assert tenant in subscriptions.followed
    assert journal.steps[-2:] == [("unfollow", tenant), ("follow", tenant)]


async def test_the_reconcile_follows_every_tenant_with_endpoints_before_dropping_the_catch_all():
    journal = Journal()
    store, subscriptions = FakeStore(journal), FakeSubscriptions(journal)
    tenants = sorted([uuid4(), uuid4()])
    store.endpoints = {uuid4(): tenants[0], uuid4(): tenants[1], uuid4(): tenants[1]}
    assert await ReconcileSubscriptions(store, subscriptions)() == 2  # type: ignore[arg-type]
    assert journal.steps == [("follow", tenants[0]), ("follow", tenants[1]), ("stop everything", None)]


class UnreachableBroker:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def declare_queue(self, queue: Any) -> Any:
        raise self.error


async def test_an_unreachable_broker_is_a_dependency_unavailable_and_other_errors_are_not_hidden():
    unreachable = RabbitStreamSubscriptions(
        UnreachableBroker(aiormq.exceptions.AMQPConnectionError("gone")),  # type: ignore[arg-type]
        EVENTS_QUEUE,
    )
    with pytest.raises(DependencyUnavailable, match="try again"):
        await unreachable.follow(uuid4())
    refused = RabbitStreamSubscriptions(
        UnreachableBroker(aiormq.exceptions.ChannelAccessRefused("403")),  # type: ignore[arg-type]
        EVENTS_QUEUE,
    )
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await refused.follow(uuid4())


def test_a_tenant_binding_matches_its_own_routing_keys_only():
    tenant = UUID("00000000-0000-0000-0000-000000000001")
    assert tenant_binding(tenant) == "00000000-0000-0000-0000-000000000001.#"
    assert (
        EVENTS_QUEUE.routing() != "#"
    )  # FastStream would bind whatever this says, were it given the exchange
