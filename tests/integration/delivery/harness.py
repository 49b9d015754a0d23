"""The delivery worker's surroundings, played by the test: the catalog, and listeners on its outputs."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import aio_pika
from faststream.rabbit import Channel, RabbitBroker, RabbitResponse
from faststream.rabbit.annotations import NoCast, RabbitMessage

from shared.contracts import (
    CampaignEvent,
    CatalogEvent,
    CatalogEventKind,
    CatalogSnapshot,
    DeliveryBatch,
    DeliveryRequested,
    IncomingSends,
    IncomingStatuses,
    ProbeRequest,
    ProbeResult,
    SendBatch,
    SendRequested,
    ServerHealthEvent,
    ServerSettingsReply,
    ServerState,
    ServerView,
    StatusBatch,
    StatusEvent,
    sends_of,
    status_events_of,
)
from shared.messaging import publish_model, rpc_reply
from shared.topology import (
    CATALOG_EXCHANGE,
    CATALOG_RPC_QUEUE,
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    HEALTH_EXCHANGE,
    SEND_EXCHANGE,
    SEND_QUEUE,
    STATUS_EXCHANGE,
    delivery_queue_name,
    instance_queue,
    probe_queue,
    status_queue,
)
from tests.integration.delivery.messages import delivery_requested

T = TypeVar("T")


class Inbox(Generic[T]):
    """What a test-side subscriber received, with a way to wait for a particular item."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self._arrived = asyncio.Event()

    def add(self, item: T) -> None:
        self.items.append(item)
        self._arrived.set()

    def matching(self, predicate: Callable[[T], bool]) -> list[T]:
        return [item for item in self.items if predicate(item)]

    async def wait_for(self, predicate: Callable[[T], bool], timeout: float = 10.0) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._arrived.clear()
            if found := self.matching(predicate):
                return found[0]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"nothing matching arrived within {timeout}s; received: {self.items!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


@dataclass
class FakeCatalog:
    """Answers `catalog.rpc` the way the catalog does: a snapshot, or one server's settings with secrets."""

    servers: dict[UUID, tuple[ServerView, dict[str, Any]]] = field(default_factory=dict)
    settings_requests: list[UUID] = field(default_factory=list)
    next_event_id: int = 1

    def put_server(
        self,
        settings: dict[str, Any],
        *,
        server_id: UUID | None = None,
        version: int = 1,
        vendor: str = "smtp",
        state: ServerState = ServerState.ACTIVE,
        server_type: str | None = None,
    ) -> ServerView:
        server_id = server_id or uuid4()
        view = ServerView(
            id=server_id,
            name=f"relay {str(server_id)[:8]}",
            type=server_type or vendor,
            vendor=vendor,
            state=state,
            version=version,
        )
        self.servers[server_id] = (view, settings)
        return view

    def answer(self, request: dict[str, Any]) -> CatalogSnapshot | ServerSettingsReply:
        if request.get("kind") == "snapshot":
            views = [view for view, _ in self.servers.values()]
            return CatalogSnapshot(last_event_id=0, servers=views, plans=[], tenants=[])
        server_id = UUID(request["server_id"])
        self.settings_requests.append(server_id)
        view, settings = self.servers[server_id]
        return ServerSettingsReply(
            server_id=server_id, type=view.type, vendor=view.vendor, settings=settings, version=view.version
        )

    def changed_event(self, server: ServerView) -> CatalogEvent:
        self.next_event_id += 1
        return CatalogEvent(event_id=self.next_event_id, kind=CatalogEventKind.SERVER_CHANGED, server=server)


@dataclass(frozen=True)
class DeadLetter:
    body: bytes
    headers: dict[str, Any]


@dataclass
class Bus:
    """A test-side broker: plays the catalog and records statuses, dead letters and retries.

    Statuses and messages back to routing travel in batches (`StatusBatch`, `SendBatch`); they are
    recorded one per message (`statuses`, `rerouted`), and the status messages as they arrived too
    (`status_messages`). Messages for a server's queue go out as `DeliveryBatch`es, as the router
    publishes them (`publish_legacy` puts a single `DeliveryRequested` there, as an earlier version did).
    """

    amqp_url: str
    catalog: FakeCatalog
    broker: RabbitBroker = field(init=False)
    statuses: Inbox[StatusEvent] = field(default_factory=Inbox)
    """Every status event, one per message and status, in arrival order."""
    status_messages: Inbox[StatusBatch | StatusEvent] = field(default_factory=Inbox)
    """The status messages themselves: a batch carries the events of one campaign and status."""
    dead: Inbox[DeadLetter] = field(default_factory=Inbox)
    rerouted: Inbox[SendRequested] = field(default_factory=Inbox)
    """Every message back to routing (now or after a delay), one per message."""
    rerouted_messages: Inbox[SendBatch | SendRequested] = field(default_factory=Inbox)
    health: Inbox[ServerHealthEvent] = field(default_factory=Inbox)

    def __post_init__(self) -> None:
        self.broker = RabbitBroker(
            self.amqp_url,
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            log_level=logging.DEBUG,
        )

        @self.broker.subscriber(CATALOG_RPC_QUEUE)
        async def answer_catalog_rpc(request: dict) -> RabbitResponse:
            return rpc_reply(self.catalog.answer(request))

        @self.broker.subscriber(status_queue("delivery-tests"), STATUS_EXCHANGE)
        async def record_status(body: IncomingStatuses) -> None:
            if isinstance(body, CampaignEvent):
                return
            self.status_messages.add(body)
            for event in status_events_of(body):
                self.statuses.add(event)

        async def raw_body(message: RabbitMessage) -> bytes:  # a dead letter need not be JSON
            return message.body

        @self.broker.subscriber(DEAD_QUEUE, DEAD_EXCHANGE, decoder=raw_body)
        async def record_dead_letter(body: NoCast[bytes], message: RabbitMessage) -> None:
            self.dead.add(DeadLetter(body, dict(message.headers)))

        @self.broker.subscriber(SEND_QUEUE, SEND_EXCHANGE)
        async def record_rerouted(body: IncomingSends) -> None:
            self.rerouted_messages.add(body)
            for send in sends_of(body):
                self.rerouted.add(send)

        @self.broker.subscriber(
            instance_queue("delivery-tests", "health", "server.*", uuid4().hex[:12]), HEALTH_EXCHANGE
        )
        async def record_health(event: ServerHealthEvent) -> None:
            self.health.add(event)

    async def publish_to_queue(self, model, queue: str) -> None:
        """`model` on `queue`; a `DeliveryRequested` as the batch of one a router would publish for it."""
        if isinstance(model, DeliveryRequested):
            [model] = DeliveryBatch.of([model])
        await publish_model(self.broker, model, queue=queue)

    async def publish_legacy(self, request: DeliveryRequested, queue: str) -> None:
        """A single `DeliveryRequested`, as routers before batches published it."""
        await publish_model(self.broker, request, queue=queue)

    async def send(self, server_id: UUID, to: str, **changes) -> DeliveryRequested:
        """A fresh message to `to`, put on the server's queue as a router routes it there."""
        request = delivery_requested(server_id, to, **changes)
        await self.publish_to_queue(request, delivery_queue_name("smtp", server_id))
        return request

    def status_messages_about(self, message_ids: set[UUID], status: str | None = None) -> list:
        """The status messages that carried an event about one of `message_ids` (of `status`)."""
        return self.status_messages.matching(
            lambda body: any(
                event.message_id in message_ids and (status is None or event.status == status)
                for event in status_events_of(body)
            )
        )

    async def probe(self, settings: dict[str, Any], *, server_type: str = "smtp", **request) -> ProbeResult:
        """Ask the worker to probe a server with `settings`, as the catalog does before it is enabled:
        the request names the server, and the worker asks the catalog (played here) for its settings."""
        server = self.catalog.put_server(settings, server_type=server_type, state=ServerState.INACTIVE)
        body = ProbeRequest(server_id=server.id, type=server_type, **request)
        reply = await self.broker.request(
            body.model_dump(mode="json"), queue=probe_queue("smtp").name, timeout=20
        )
        return ProbeResult.model_validate(await reply.decode())

    async def publish_catalog_event(self, event: CatalogEvent) -> None:
        await publish_model(self.broker, event, exchange=CATALOG_EXCHANGE, routing_key=event.kind.value)

    def status_of(self, message_id: UUID, status: str | None = None) -> list[StatusEvent]:
        return self.statuses.matching(
            lambda event: event.message_id == message_id and (status is None or event.status == status)
        )

    async def wait_for_status(self, message_id: UUID, status: str, timeout: float = 10.0) -> StatusEvent:
        return await self.statuses.wait_for(
            lambda event: event.message_id == message_id and event.status == status, timeout
        )

    async def wait_until_consumed(self, queue: str, timeout: float = 10.0) -> None:
        """Until the worker consumes `queue` (it starts consumers as it learns of servers)."""
        await self._wait_for_consumers(queue, lambda count: count > 0, timeout, f"nobody consumes {queue}")

    async def wait_until_not_consumed(self, queue: str, timeout: float = 10.0) -> None:
        """Until the worker has stopped consuming `queue`."""
        await self._wait_for_consumers(queue, lambda count: count == 0, timeout, f"{queue} is still consumed")

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (not those delivered and not yet acknowledged)."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            return declared.declaration_result.message_count
        finally:
            await connection.close()

    async def _wait_for_consumers(
        self, queue: str, wanted: Callable[[int], bool], timeout: float, failure: str
    ) -> None:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                try:
                    declared = await channel.declare_queue(queue, passive=True)
                    if wanted(declared.declaration_result.consumer_count):
                        return
                except aio_pika.exceptions.ChannelClosed:
                    channel = (
                        await connection.channel()
                    )  # a passive declare of a missing queue closes the channel
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{failure} after {timeout}s")
                await asyncio.sleep(0.1)
        finally:
            await connection.close()


async def eventually(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    async def check() -> bool:
        return condition()

    await polled(check, bool, timeout, what, interval=0.05)


async def polled(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: float = 10.0,
    what: str = "condition",
    *,
    interval: float = 0.01,
) -> T:
    """`await probe()` again and again until `until` holds for its answer (a row in the worker's
    database, say, which nothing notifies), and that answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not until(answer := await probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} still not true after {timeout}s")
        await asyncio.sleep(interval)
    return answer
