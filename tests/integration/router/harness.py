"""Router replicas in the test process, wired as `create_app` wires them (the same `register`,
held store, outbox relay and background tasks), against real RabbitMQ and PostgreSQL, with the
catalog replaced by a double whose servers a test changes."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

import aio_pika
import asyncpg

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.adapters.drainers import QueueDrainers
from services.router.adapters.held_store import OUTBOX_CHANNEL, PgHeldMessages
from services.router.adapters.outbound import RabbitOutbound
from services.router.app.capacity import CapacityLedger
from services.router.app.routing import Router
from services.router.domain.view import RoutingView
from services.router.entrypoints.main import register, start_background
from services.router.settings import RouterSettings
from shared import topology
from shared.background import BackgroundTasks
from shared.contracts import (
    CatalogSnapshot,
    MessageContent,
    SendingPolicy,
    SendRequested,
    ServerState,
    ServerView,
)
from shared.messaging import make_broker, publish_model
from shared.outbox import OutboxRelay
from shared.topology import SEND_EXCHANGE, SEND_ROUTING_KEY, STATUS_EXCHANGE
from tests.integration.router.doubles import CountingMetrics


class FakeCatalog:
    """The catalog as the router asks it: every campaign uses all of the tenant's servers."""

    def __init__(self, *servers: ServerView) -> None:
        self.servers = {s.id: s for s in servers}
        self._event_id = 1

    def set_state(self, server_id: UUID, state: ServerState) -> None:
        self._event_id += 1
        self.servers[server_id] = self.servers[server_id].model_copy(update={"state": state})

    async def snapshot(self) -> CatalogSnapshot:
        return CatalogSnapshot(
            last_event_id=self._event_id, servers=list(self.servers.values()), plans=[], tenants=[]
        )

    async def policy(self, campaign_id: UUID, tenant_id: UUID) -> SendingPolicy:
        return SendingPolicy(campaign_id=campaign_id, tenant_id=tenant_id)


class RecordingOutbound(RabbitOutbound):
    """The real outbound, remembering what went where; `fail_release` makes releases fail."""

    def __init__(self, broker, released: list[UUID], routed: list[UUID]) -> None:
        super().__init__(broker)
        self.released, self.routed = released, routed
        self.fail_release: Callable[[SendRequested], bool] = lambda _message: False

    async def back_to_routing(self, message: SendRequested) -> None:
        if self.fail_release(message):
            raise ConnectionResetError("the broker connection broke while releasing held messages")
        await super().back_to_routing(message)
        self.released.append(message.message_id)

    async def to_server(self, vendor, server_id, message) -> None:
        await super().to_server(vendor, server_id, message)
        self.routed.append(message.send.message_id)


@dataclass
class Replica:
    router: Router
    broker: object
    outbound: RecordingOutbound


@dataclass
class Traffic:
    """What every replica of one test released and routed (a message twice is a duplicate)."""

    released: list[UUID] = field(default_factory=list)
    routed: list[UUID] = field(default_factory=list)


@asynccontextmanager
async def router_replica(
    amqp_url: str,
    pool: asyncpg.Pool,
    catalog: FakeCatalog,
    traffic: Traffic,
    *,
    release_batch: int = 500,
    sweep_seconds: float = 3600.0,
    background: bool = True,
) -> AsyncIterator[Replica]:
    """One router replica: a process of its own, as far as RabbitMQ can tell (own instance queues)."""
    saved_instance = topology.INSTANCE_ID
    topology.INSTANCE_ID = uuid.uuid4().hex[:12]  # read by instance_queue() as `register` subscribes
    broker = make_broker(amqp_url, "router")
    outbound = RecordingOutbound(broker, traffic.released, traffic.routed)
    router = Router(
        view=RoutingView(),
        catalog=catalog,
        outbound=outbound,
        held=PgHeldMessages(pool, release_batch=release_batch),
        capacity=CapacityLedger(PgCapacityStore(pool)),
        metrics=CountingMetrics(),
    )
    drainers = QueueDrainers(broker, router)
    try:
        register(broker, router, drainers)
    finally:
        topology.INSTANCE_ID = saved_instance
    relay = OutboxRelay(pool, broker, schema="router", channel=OUTBOX_CHANNEL, poll_seconds=0.2)
    tasks = BackgroundTasks()
    router.stopped = await router.held.stopped_campaigns()
    await broker.start()
    try:
        relay.start()
        if background:
            settings = RouterSettings(held_sweep_seconds=sweep_seconds)
            start_background(tasks, router, PgCapacityStore(pool), settings)
        await router.start()
        yield Replica(router, broker, outbound)
    finally:
        await tasks.stop()
        await relay.stop()
        await drainers.stop_all()
        await broker.stop()


class Heard:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def of(self, status: str) -> list[dict]:
        return [e for e in self.events if e.get("status", e.get("kind")) == status]


@asynccontextmanager
async def listening(amqp_url: str, binding: str = "#") -> AsyncIterator[Heard]:
    """Every event on sendpool.status matching `binding`, while the block lasts."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(STATUS_EXCHANGE.name, type="topic", durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=binding)
        heard = Heard()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                heard.events.append(json.loads(message.body))

        await queue.consume(on_message)
        yield heard


async def publish_sends(amqp_url: str, messages: list[SendRequested]) -> None:
    """As the scheduler publishes them, to the send exchange."""
    broker = make_broker(amqp_url, "scheduler-double")
    async with broker:
        await broker.connect()
        for message in messages:
            await publish_model(broker, message, exchange=SEND_EXCHANGE, routing_key=SEND_ROUTING_KEY)


async def publish_status(amqp_url: str, event) -> None:
    broker = make_broker(amqp_url, "scheduler-double")
    async with broker:
        await broker.connect()
        await publish_model(broker, event, exchange=STATUS_EXCHANGE, routing_key=event.routing_key)


def message_of(tenant_id: UUID, campaign_id: UUID, recipient: str = "reader@inbox.example") -> SendRequested:
    return SendRequested(
        message_id=uuid.uuid4(),
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        run_id=uuid.uuid4(),
        recipient=recipient,
        content=MessageContent(from_address="news@sender.example", subject="hello"),
    )


async def eventually(predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll an async `predicate` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
