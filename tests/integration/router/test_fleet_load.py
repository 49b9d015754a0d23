"""The router's view of the servers for dashboards: queue backlogs and consumers, headroom under
each limit and today's warmup cap, and sendpool.dead (real RabbitMQ and PostgreSQL)."""

from datetime import UTC, datetime
from uuid import uuid4

import aio_pika
import pytest

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.adapters.metrics import PrometheusFleetGauges
from services.router.adapters.queue_stats import RabbitQueueStats
from services.router.app.capacity import CapacityLedger
from services.router.app.fleet_load import FleetLoad
from services.router.domain.limits import server_bucket
from services.router.domain.view import RoutingView
from shared.contracts import CatalogSnapshot, SendingLimits, ServerState, ServerView, WarmupSchedule
from shared.metrics import REGISTRY
from shared.topology import DEAD_QUEUE, delivery_queue_name


def server(state: ServerState, **fields) -> ServerView:
    return ServerView(
        id=uuid4(), tenant_id=uuid4(), name="s", type="smtp", vendor="smtp", state=state, **fields
    )


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {key: str(value) for key, value in labels.items()})


async def test_queues_headroom_and_dead_letters_are_reported_and_deleted_servers_forgotten(
    own_vhost, database
):
    busy = server(
        ServerState.ACTIVE,
        limits=SendingLimits(per_minute=50, per_day=1000),
        warmup=WarmupSchedule(kind="table", start_date=datetime.now(UTC).date(), table=[200, 400]),
    )
    paused = server(ServerState.PAUSED, limits=SendingLimits(per_hour=10), pause_reason="by its owner")
    unlimited = server(ServerState.ACTIVE)
    view = RoutingView()
    view.load(CatalogSnapshot(last_event_id=1, servers=[busy, paused, unlimited], plans=[], tenants=[]))

    connection = await aio_pika.connect(own_vhost)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(delivery_queue_name("smtp", busy.id), durable=True)
        for body in (b"one", b"two"):
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        dead = await channel.declare_queue(
            DEAD_QUEUE.name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await channel.default_exchange.publish(aio_pika.Message(b"dead"), routing_key=dead.name)

        store = PgCapacityStore(database)
        stats = RabbitQueueStats(own_vhost, name="router-test")
        load = FleetLoad(view, stats, store, PrometheusFleetGauges())
        try:
            await load.report()
            busy_id, paused_id = str(busy.id), str(paused.id)
            assert gauge("sendpool_server_queue_messages", vendor="smtp", server_id=busy_id) == 2
            assert gauge("sendpool_server_queue_consumers", vendor="smtp", server_id=busy_id) == 0
            # The paused server's queue was never declared: empty, no consumer, and no headroom.
            assert gauge("sendpool_server_queue_messages", vendor="smtp", server_id=paused_id) == 0
            assert gauge("sendpool_server_queue_consumers", vendor="smtp", server_id=paused_id) == 0
            assert gauge("sendpool_server_headroom", server_id=paused_id, window="hour") is None
            assert gauge("sendpool_dead_letter_queue_messages") == 1
            headroom = {
                window: gauge("sendpool_server_headroom", server_id=busy_id, window=window)
                for window in ("second", "minute", "hour", "day", "warmup")
            }
            assert headroom == {"second": None, "minute": 50, "hour": None, "day": 1000, "warmup": 200}
            # No limit at all: no headroom series, rather than a made-up figure.
            assert not [
                sample
                for metric in REGISTRY.collect()
                if metric.name == "sendpool_server_headroom"
                for sample in metric.samples
                if sample.labels["server_id"] == str(unlimited.id)
            ]

            ledger = CapacityLedger(store)
            bucket = server_bucket(busy, datetime.now(UTC))
            assert bucket is not None
            assert (await ledger.take(bucket, datetime.now(UTC))).ok  # claims a slice of 5 (50 // 10)

            async def hold(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                """A worker that takes its messages and never finishes them."""

            await channel.set_qos(prefetch_count=1)
            await queue.consume(hold)
            await load.report()
            assert gauge("sendpool_server_queue_consumers", vendor="smtp", server_id=busy_id) == 1
            assert gauge("sendpool_server_headroom", server_id=busy_id, window="minute") == 45
            assert gauge("sendpool_server_headroom", server_id=busy_id, window="day") == 995
            assert gauge("sendpool_server_headroom", server_id=busy_id, window="warmup") == 195

            view.load(CatalogSnapshot(last_event_id=2, servers=[paused], plans=[], tenants=[]))
            await load.report()
            assert gauge("sendpool_server_queue_messages", vendor="smtp", server_id=busy_id) is None
            assert gauge("sendpool_server_queue_consumers", vendor="smtp", server_id=busy_id) is None
            assert gauge("sendpool_server_headroom", server_id=busy_id, window="minute") is None
            assert gauge("sendpool_server_queue_messages", vendor="smtp", server_id=paused_id) == 0
        finally:
            await stats.close()


class _BrokenConnection:
    """What a connection lost in a RabbitMQ restart looked like in `make chaos`: not `is_closed`, yet
    every use raises "closed"."""

    is_closed = False

    async def channel(self) -> None:
        raise RuntimeError("<Connection: amqp://...> closed")

    async def close(self) -> None:
        raise RuntimeError("already closed")


async def test_a_connection_lost_in_a_broker_restart_is_opened_again_by_the_next_round(own_vhost):
    stats = RabbitQueueStats(own_vhost, name="router-test")
    try:
        stats._connection = _BrokenConnection()  # type: ignore[assignment]
        with pytest.raises(RuntimeError):  # that round fails, and its task retries it
            await stats.depths([DEAD_QUEUE.name])
        depths = await stats.depths(["sendpool.no-such-queue"])
        assert depths["sendpool.no-such-queue"].messages == 0, "the next round connected afresh"
    finally:
        await stats.close()
