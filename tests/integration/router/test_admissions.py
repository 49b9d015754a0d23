"""Admission of late messages against real PostgreSQL: the count moves from when a message was
routed to when it is sent, and a server at its cap makes the worker wait."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.app.capacity import CapacityLedger
from services.router.app.ports import Decision
from services.router.app.routing import Router
from services.router.domain.limits import server_bucket
from services.router.domain.view import RoutingView
from shared.contracts import AdmissionRequest, CatalogSnapshot, SendingLimits, ServerState, ServerView
from tests.integration.router.doubles import CountingMetrics, Unused


async def test_a_late_send_moves_its_count_to_now_and_waits_when_the_server_is_at_its_cap(database):
    now = datetime.now(UTC)
    routed_at = now - timedelta(seconds=30)
    server = ServerView(
        id=uuid4(),
        tenant_id=uuid4(),
        name="capped",
        type="smtp",
        vendor="smtp",
        state=ServerState.ACTIVE,
        limits=SendingLimits(per_minute=3),
    )
    view = RoutingView()
    view.load(CatalogSnapshot(last_event_id=1, servers=[server], plans=[], tenants=[]))
    store, metrics = PgCapacityStore(database), CountingMetrics()
    router = Router(
        view=view,
        catalog=Unused(),
        outbound=Unused(),
        held=Unused(),
        capacity=CapacityLedger(store),
        metrics=metrics,
        clock=lambda: now,
    )
    router.ready.set()
    # Two messages counted when they were routed, half a minute ago; neither was sent then.
    routing_ledger = CapacityLedger(store)
    for _ in range(2):
        assert (await routing_ledger.take(server_bucket(server, routed_at), routed_at)).ok
    late = AdmissionRequest(server_id=server.id, recipient="ada@inbox.example", routed_at=routed_at)

    first, second = await router.admit(late), await router.admit(late)

    assert first.admitted and second.admitted
    # Moved, not counted twice: the minute still holds two sends, now both at the time of sending.
    assert await store.remaining(server_bucket(server, now)) == {"minute": 1}
    assert await store.remaining(server_bucket(server, routed_at)) == {"minute": 3}

    assert (await router.admit(late.model_copy(update={"routed_at": now - timedelta(hours=1)}))).admitted
    refused = await router.admit(late)

    assert not refused.admitted
    assert refused.retry_at == server_bucket(server, now).windows[0].all_counted_free_at
    assert "3 per minute" in refused.reason
    assert metrics.decisions == [Decision.ADMITTED_LATE] * 3 + [Decision.LATE_AT_CAP]


async def test_a_server_without_limits_or_unknown_admits_at_once(database):
    router = Router(
        view=RoutingView(),
        catalog=Unused(),
        outbound=Unused(),
        held=Unused(),
        capacity=CapacityLedger(PgCapacityStore(database)),
        metrics=CountingMetrics(),
    )
    router.ready.set()

    reply = await router.admit(
        AdmissionRequest(server_id=uuid4(), recipient="ada@inbox.example", routed_at=datetime.now(UTC))
    )

    assert reply.admitted
