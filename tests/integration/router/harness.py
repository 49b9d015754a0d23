"""Router replicas in the test process, built by `bootstrap` as the service builds itself (the same
subscribers, held store, outbox relay and background tasks), against real RabbitMQ and
PostgreSQL, with the catalog replaced by a double whose servers a test changes.

Messages go in as the scheduler publishes them (`SendBatch`es; a single `SendRequested` as an
earlier version did) and come out as the delivery workers find them (`DeliveryBatch`es in the
servers' queues), flattened to one entry per recipient for the tests' assertions."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID, uuid5

import aio_pika
from pydantic import BaseModel

from services.router.adapters.held_store import PgHeldMessages
from services.router.adapters.outbound import RabbitOutbound
from services.router.bootstrap import MIGRATIONS, SCHEMA, RouterRuntime, bootstrap
from services.router.settings import RouterSettings
from shared.contracts import (
    CampaignEvent,
    CatalogEvent,
    CatalogEventKind,
    CatalogSnapshot,
    DeliveryBatch,
    DeliveryRequested,
    MessageContent,
    SendBatch,
    SendingPolicy,
    SendRequested,
    ServerState,
    ServerView,
    WeightedServer,
)
from shared.db import Database
from shared.messaging import DEAD_REASON_HEADER, make_broker
from shared.topology import (
    CATALOG_EXCHANGE,
    DEAD_QUEUE,
    SEND_EXCHANGE,
    SEND_ROUTING_KEY,
    STATUS_EXCHANGE,
    delivery_queue_name,
)
from tests.support.status_events import Heard, status_events


@asynccontextmanager
async def router_database(database_url: str) -> AsyncIterator[Database]:
    """The router's schema in that database, migrated and open, as the service opens it."""
    async with Database(database_url, SCHEMA, MIGRATIONS, pool_size=5, wait_seconds=0.0) as database:
        yield database


class FakeCatalog:
    """The catalog as the router asks it: every campaign uses all of the tenant's servers, unless
    a test gives it a weighted selection (`select`)."""

    def __init__(self, *servers: ServerView) -> None:
        self.servers = {s.id: s for s in servers}
        self.selections: dict[UUID, dict[UUID, float]] = {}
        self.owners: dict[UUID, UUID] = {}
        self._event_id = 1

    def select(self, campaign_id: UUID, weights: dict[UUID, float]) -> None:
        """The campaign sends through these servers only, in proportion to their weights."""
        self.selections[campaign_id] = weights

    def owned_by(self, campaign_id: UUID, tenant_id: UUID) -> None:
        """The campaign belongs to that tenant, whatever tenant a message of it names."""
        self.owners[campaign_id] = tenant_id

    def set_state(self, server_id: UUID, state: ServerState) -> CatalogEvent:
        """Change the server; returns the event the catalog announces the change with."""
        self._event_id += 1
        server = self.servers[server_id] = self.servers[server_id].model_copy(update={"state": state})
        return CatalogEvent(event_id=self._event_id, kind=CatalogEventKind.SERVER_CHANGED, server=server)

    async def snapshot(self) -> CatalogSnapshot:
        return CatalogSnapshot(
            last_event_id=self._event_id, servers=list(self.servers.values()), plans=[], tenants=[]
        )

    async def policy(self, campaign_id: UUID, tenant_id: UUID) -> SendingPolicy:
        tenant_id = self.owners.get(campaign_id, tenant_id)
        weights = self.selections.get(campaign_id)
        if weights is None:
            return SendingPolicy(campaign_id=campaign_id, tenant_id=tenant_id)
        return SendingPolicy(
            campaign_id=campaign_id,
            tenant_id=tenant_id,
            use_all=False,
            selection=[WeightedServer(server_id=s, weight=w) for s, w in weights.items()],
        )


@dataclass
class Traffic:
    """What every replica of one test released and routed (a message twice is a duplicate)."""

    released: list[UUID] = field(default_factory=list)
    routed: list[UUID] = field(default_factory=list)


class RecordingOutbound(RabbitOutbound):
    """The real outbound, remembering what went where. `fail_release` makes a release of held
    messages fail before anything goes out; `break_after_release` breaks the broker connection
    once a batch of them was released (confirmed), before the caller hears of it; `fail_route`
    makes routing a recipient to its server fail (a bug, not an outage)."""

    def __init__(self, runtime: RouterRuntime, traffic: Traffic) -> None:
        super().__init__(runtime.broker, runtime.publishers)
        self.traffic = traffic
        self.fail_release: Callable[[list[SendRequested]], bool] = lambda _messages: False
        self.break_after_release: Callable[[list[SendRequested]], bool] = lambda _messages: False
        self.fail_route: Callable[[DeliveryRequested], bool] = lambda _message: False

    async def release(self, messages: list[SendRequested]) -> None:
        if self.fail_release(messages):
            raise ConnectionResetError("the broker connection is broken")
        await super().release(messages)
        self.traffic.released.extend(message.message_id for message in messages)
        if self.break_after_release(messages):
            raise ConnectionResetError("the broker connection broke while releasing held messages")

    async def to_server(self, vendor, server_id, message) -> None:
        if self.fail_route(message):
            raise RuntimeError(f"cannot route {message.send.recipient}")
        await super().to_server(vendor, server_id, message)
        self.traffic.routed.append(message.send.message_id)


@dataclass
class Replica:
    runtime: RouterRuntime
    outbound: RecordingOutbound


@dataclass
class RouterStack:
    """A virtual host and a database of the test's own: the replicas it starts consume the shared
    work queues (router.send-requested, router.campaign-resumed), and sweepers see every held
    message, so no other test may share them."""

    amqp_url: str
    database: Database

    @property
    def pool(self):
        """For the test's own look at the router's tables."""
        return self.database.pool

    @asynccontextmanager
    async def replica(
        self,
        catalog: FakeCatalog,
        traffic: Traffic,
        *,
        release_batch: int = 500,
        sweep_seconds: float = 3600.0,
    ) -> AsyncIterator[Replica]:
        """One router replica, started and stopped through the runtime's hooks as `ServiceApp` calls
        them; a process of its own, as far as RabbitMQ can tell (its own instance id)."""
        runtime = bootstrap(
            RouterSettings(
                amqp_url=self.amqp_url,
                database_url=self.database.url,
                instance_id=uuid.uuid4().hex[:12],
                db_pool_size=5,
                outbox_poll_seconds=0.2,
                held_sweep_seconds=sweep_seconds,
            )
        )
        runtime.router.catalog = catalog
        runtime.router.held = PgHeldMessages(runtime.database, release_batch=release_batch)
        outbound = runtime.router.outbound = RecordingOutbound(runtime, traffic)
        await runtime.open()
        try:
            await runtime.broker.start()
            try:
                await runtime.start()
                yield Replica(runtime, outbound)
            finally:
                await runtime.stop()
                await runtime.broker.stop()
        finally:
            await runtime.close()

    @asynccontextmanager
    async def listening(self, binding: str = "#") -> AsyncIterator[Heard]:
        """Every event on sendpool.status matching `binding`, while the block lasts."""
        async with (
            await aio_pika.connect(self.amqp_url) as connection,
            status_events(connection, binding) as heard,
        ):
            yield heard

    async def publish_sends(self, messages: list[SendRequested], *, batch_size: int = 1000) -> None:
        """As the scheduler publishes them, to the send exchange: in `SendBatch`es of up to
        `batch_size` recipients, one run's messages together."""
        batches = SendBatch.of(messages, max_size=batch_size)
        await self._publish(SEND_EXCHANGE.name, [(SEND_ROUTING_KEY, batch) for batch in batches])

    async def publish_single_sends(self, messages: list[SendRequested]) -> None:
        """As an earlier version of the scheduler published them: a `SendRequested` per message."""
        await self._publish(SEND_EXCHANGE.name, [(SEND_ROUTING_KEY, message) for message in messages])

    async def publish_status(self, event: CampaignEvent) -> None:
        """As the scheduler announces a campaign decision."""
        await self._publish(STATUS_EXCHANGE.name, [(event.routing_key, event)])

    async def publish_catalog(self, event: CatalogEvent) -> None:
        """As the catalog announces a change (to the replicas running, or gone a short while)."""
        await self._publish(CATALOG_EXCHANGE.name, [(event.kind.value, event)])

    async def deliveries(self, server: ServerView) -> list[DeliveryBatch]:
        """The batches waiting in the server's queue, taken out of it (no worker runs here)."""
        bodies = await self._take_all(delivery_queue_name(server.vendor, server.id))
        return [DeliveryBatch.model_validate_json(body) for body, _headers in bodies]

    async def queued(self, queue_name: str) -> list[SendBatch]:
        """The batches waiting in a wait queue, taken out of it before their time is up."""
        return [SendBatch.model_validate_json(body) for body, _headers in await self._take_all(queue_name)]

    async def dead_letters(self) -> list[tuple[str, bytes]]:
        """What was dead-lettered (the reason and the body), taken out of sendpool.dead."""
        bodies = await self._take_all(DEAD_QUEUE.name)
        return [(str(headers.get(DEAD_REASON_HEADER, "")), body) for body, headers in bodies]

    async def queue_length(self, queue_name: str) -> int:
        async with await aio_pika.connect(self.amqp_url) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)
            return queue.declaration_result.message_count or 0

    async def _take_all(self, queue_name: str) -> list[tuple[bytes, dict]]:
        taken: list[tuple[bytes, dict]] = []
        async with await aio_pika.connect(self.amqp_url) as connection:
            channel = await connection.channel()
            queue = await channel.get_queue(queue_name, ensure=False)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                taken.append((message.body, dict(message.headers or {})))
        return taken

    async def _publish(self, exchange: str, messages: list[tuple[str, BaseModel]]) -> None:
        broker = make_broker(self.amqp_url, "scheduler-double")
        async with broker:
            await broker.connect()
            for routing_key, message in messages:
                await broker.publish(
                    message.model_dump_json().encode(),
                    exchange=exchange,
                    routing_key=routing_key,
                    content_type="application/json",
                    persist=True,
                )


def message_of(tenant_id: UUID, campaign_id: UUID, recipient: str = "reader@inbox.example") -> SendRequested:
    """A message of the campaign's one run (so a campaign's messages travel in one batch)."""
    return SendRequested(
        message_id=uuid.uuid4(),
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        run_id=uuid5(campaign_id, "run"),
        recipient=recipient,
        content=MessageContent(from_address="news@sender.example", subject="hello"),
    )


def per_recipient(batches: list[DeliveryBatch]) -> list[DeliveryRequested]:
    """The recipients of delivery batches, one entry each."""
    return [request for batch in batches for request in batch.requests()]


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
