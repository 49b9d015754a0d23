"""Which server queues the worker consumes: active servers of its vendor with a closed circuit."""

from dataclasses import dataclass, field
from uuid import UUID, uuid4

from services.delivery.app.fleet import ServerFleet
from services.delivery.app.sender_cache import SenderCache
from shared.contracts import CatalogEvent, CatalogEventKind, CatalogSnapshot, ServerState, ServerView


def server(state: ServerState = ServerState.ACTIVE, *, vendor: str = "smtp", server_id: UUID | None = None,
           version: int = 1) -> ServerView:  # fmt: skip
    return ServerView(
        id=server_id or uuid4(), name="relay", type=vendor, vendor=vendor, state=state, version=version
    )


@dataclass
class Catalog:
    servers: list[ServerView]

    async def snapshot(self) -> CatalogSnapshot:
        return CatalogSnapshot(last_event_id=0, servers=self.servers, plans=[], tenants=[])

    async def server_settings(self, server_id: UUID): ...


@dataclass
class Queues:
    consumed: set[UUID] = field(default_factory=set)

    async def consume(self, vendor: str, server_id: UUID) -> None:
        self.consumed.add(server_id)

    async def stop(self, server_id: UUID) -> None:
        self.consumed.discard(server_id)


def changed(view: ServerView, event_id: int = 1) -> CatalogEvent:
    return CatalogEvent(event_id=event_id, kind=CatalogEventKind.SERVER_CHANGED, server=view)


async def fleet_of(*servers: ServerView) -> tuple[ServerFleet, Queues]:
    catalog, queues = Catalog(list(servers)), Queues()
    fleet = ServerFleet("smtp", catalog, queues, SenderCache(catalog, build_sender=None))
    await fleet.load()
    return fleet, queues


async def test_only_the_active_servers_of_its_vendor_are_consumed():
    active, inactive = server(ServerState.ACTIVE), server(ServerState.INACTIVE)
    paused, disabled = server(ServerState.PAUSED), server(ServerState.DISABLED)
    other_vendor = server(vendor="ses")

    fleet, queues = await fleet_of(active, inactive, paused, disabled, other_vendor)

    assert queues.consumed == {active.id}
    assert fleet.refusal(active.id) is None
    assert fleet.refusal(disabled.id) == "the server is disabled"
    assert fleet.refusal(paused.id) == "the server is paused"
    assert fleet.refusal(inactive.id) == "the server is inactive"
    assert fleet.refusal(uuid4()) is None, "a server not heard of yet is the catalog's to judge"


async def test_a_server_not_heard_of_yet_is_still_refused_while_its_circuit_is_open():
    fleet, _ = await fleet_of()
    unknown = uuid4()

    await fleet.circuit_opened(unknown, "connection refused")

    assert fleet.refusal(unknown) == "the server's circuit breaker is open: connection refused"
    await fleet.circuit_closed(unknown)
    assert fleet.refusal(unknown) is None


async def test_a_server_is_consumed_while_it_is_active_and_not_otherwise():
    view = server(ServerState.INACTIVE)
    fleet, queues = await fleet_of(view)

    await fleet.apply(changed(view.model_copy(update={"state": ServerState.ACTIVE, "version": 2})))
    consumed_when_enabled = set(queues.consumed)
    await fleet.apply(changed(view.model_copy(update={"state": ServerState.PAUSED, "version": 3})))

    assert consumed_when_enabled == {view.id}
    assert queues.consumed == set()
    assert fleet.refusal(view.id) == "the server is paused"


async def test_an_open_circuit_stops_the_queue_until_it_closes():
    view = server()
    fleet, queues = await fleet_of(view)

    await fleet.circuit_opened(view.id, "could not open a connection: Connection refused")
    stopped = view.id not in queues.consumed
    refusal = fleet.refusal(view.id)
    await fleet.circuit_closed(view.id)

    assert stopped
    assert refusal == "the server's circuit breaker is open: could not open a connection: Connection refused"
    assert queues.consumed == {view.id}


async def test_a_circuit_closing_on_a_disabled_server_does_not_restart_its_queue():
    view = server()
    fleet, queues = await fleet_of(view)
    await fleet.circuit_opened(view.id, "unreachable")
    await fleet.apply(changed(view.model_copy(update={"state": ServerState.DISABLED, "version": 2})))

    await fleet.circuit_closed(view.id)

    assert queues.consumed == set()


async def test_a_deleted_server_is_no_longer_served():
    view = server()
    fleet, queues = await fleet_of(view)

    await fleet.apply(CatalogEvent(event_id=2, kind=CatalogEventKind.SERVER_DELETED, deleted_id=view.id))

    assert queues.consumed == set()
    assert not fleet.serves(view.id)


def snapshot_catalog(last_event_id: int, *servers: ServerView) -> Catalog:
    catalog = Catalog(list(servers))

    async def snapshot() -> CatalogSnapshot:
        return CatalogSnapshot(last_event_id=last_event_id, servers=catalog.servers, plans=[], tenants=[])

    catalog.snapshot = snapshot  # type: ignore[method-assign]
    return catalog


async def test_a_snapshot_taken_before_an_event_already_applied_does_not_undo_it():
    """`make demo`: the worker heard "active" (event 6) while its snapshot, taken at event 5 with the
    server still inactive, was on its way; applied last, the snapshot stopped the server's queue and
    a tenth of the campaign waited there for ever."""
    inactive = server(ServerState.INACTIVE)
    gone = server(ServerState.ACTIVE)
    catalog, queues = snapshot_catalog(5, inactive, gone), Queues()
    fleet = ServerFleet("smtp", catalog, queues, SenderCache(catalog, build_sender=None))

    await fleet.apply(changed(inactive.model_copy(update={"state": ServerState.ACTIVE, "version": 2}), 6))
    await fleet.apply(CatalogEvent(event_id=7, kind=CatalogEventKind.SERVER_DELETED, deleted_id=gone.id))
    await fleet.load()

    assert queues.consumed == {inactive.id}
    assert fleet.serves(inactive.id) and not fleet.serves(gone.id)


async def test_a_snapshot_newer_than_the_events_applied_wins_and_older_events_are_ignored():
    view = server(ServerState.ACTIVE)
    paused = view.model_copy(update={"state": ServerState.PAUSED, "version": 3})
    catalog, queues = snapshot_catalog(5, paused), Queues()
    fleet = ServerFleet("smtp", catalog, queues, SenderCache(catalog, build_sender=None))

    await fleet.apply(changed(view, 3))
    assert queues.consumed == {view.id}
    await fleet.load()
    assert queues.consumed == set(), "the snapshot (at event 5) is newer than event 3"

    await fleet.apply(changed(view.model_copy(update={"version": 2}), 9))
    await fleet.apply(changed(paused, 8))
    assert queues.consumed == {view.id}, "event 8 came after 9 (a redelivery): it is older, ignored"


async def test_an_event_older_than_the_snapshot_arriving_after_it_is_ignored():
    """Events published while the snapshot was being taken may be consumed after it was applied."""
    view = server(ServerState.ACTIVE, version=4)
    catalog, queues = snapshot_catalog(5, view), Queues()
    fleet = ServerFleet("smtp", catalog, queues, SenderCache(catalog, build_sender=None))
    await fleet.load()

    await fleet.apply(changed(view.model_copy(update={"state": ServerState.INACTIVE, "version": 3}), 4))

    assert queues.consumed == {view.id}, "event 4 is older than the snapshot (at event 5)"
