"""Router replicas in the test process, built by `bootstrap` as the service builds itself (the same
subscribers, held store, outbox relay and background tasks), against real RabbitMQ and
PostgreSQL, with the catalog replaced by a double whose servers a test changes."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

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
    MessageContent,
    SendingPolicy,
    SendRequested,
    ServerState,
    ServerView,
)
from shared.db import Database
from shared.messaging import make_broker
from shared.topology import CATALOG_EXCHANGE, SEND_EXCHANGE, SEND_ROUTING_KEY, STATUS_EXCHANGE
from tests.support.status_events import Heard, status_events


@asynccontextmanager
async def router_database(database_url: str) -> AsyncIterator[Database]:
    """The router's schema in that database, migrated and open, as the service opens it."""
    async with Database(database_url, SCHEMA, MIGRATIONS, pool_size=5, wait_seconds=0.0) as database:
        yield database


class FakeCatalog:
    """The catalog as the router asks it: every campaign uses all of the tenant's servers."""

    def __init__(self, *servers: ServerView) -> None:
        self.servers = {s.id: s for s in servers}
        self._event_id = 1

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
        return SendingPolicy(campaign_id=campaign_id, tenant_id=tenant_id)


@dataclass
class Traffic:
    """What every replica of one test released and routed (a message twice is a duplicate)."""

    released: list[UUID] = field(default_factory=list)
    routed: list[UUID] = field(default_factory=list)


class RecordingOutbound(RabbitOutbound):
    """The real outbound, remembering what went where; `fail_release` makes releases fail."""

    def __init__(self, runtime: RouterRuntime, traffic: Traffic) -> None:
        super().__init__(runtime.broker, runtime.publishers)
        self.traffic = traffic
        self.fail_release: Callable[[SendRequested], bool] = lambda _message: False

    async def back_to_routing(self, message: SendRequested) -> None:
        if self.fail_release(message):
            raise ConnectionResetError("the broker connection broke while releasing held messages")
        await super().back_to_routing(message)
        self.traffic.released.append(message.message_id)

    async def to_server(self, vendor, server_id, message) -> None:
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

    async def publish_sends(self, messages: list[SendRequested]) -> None:
        """As the scheduler publishes them, to the send exchange."""
        await self._publish(SEND_EXCHANGE.name, [(SEND_ROUTING_KEY, message) for message in messages])

    async def publish_status(self, event: CampaignEvent) -> None:
        """As the scheduler announces a campaign decision."""
        await self._publish(STATUS_EXCHANGE.name, [(event.routing_key, event)])

    async def publish_catalog(self, event: CatalogEvent) -> None:
        """As the catalog announces a change (to the replicas running, or gone a short while)."""
        await self._publish(CATALOG_EXCHANGE.name, [(event.kind.value, event)])

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
