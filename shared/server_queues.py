"""Consumers of per-server queues (`delivery.<vendor>.<server_id>`), started and stopped at run time.

The router drains the queue of a server that cannot send; a delivery worker consumes the queue
of each of its vendor's servers that can. Both follow the catalog as it changes, so both need
the same thing: at most one consumer per server, started and stopped while the process runs,
stopped without stranding a message (`shared.messaging.stop_consuming`), and one server's slow
stop (it waits for the messages in hand) never holding up another's.

A queue carries `DeliveryBatch`es (or a `DeliveryRequested` an earlier version left there). The
handler is called once per recipient, concurrently, and a recipient that cannot be handled is
dead-lettered alone (`shared.batch_items.handle_each`); the batch is acknowledged once every
recipient is settled. `prefetch` batches are in hand at once per queue. A `DeliveryScreen`, when
given, is asked about the whole batch first, once, and settles the recipients it holds back itself. `taken`,
when given, is told of each batch as it is taken (the delivery worker's queue-age metrics).
"""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from shared import tracing
from shared.batch_items import handle_each
from shared.contracts import DeliveryBatch, DeliveryRequested, IncomingDeliveries, deliveries_of
from shared.messaging import batch_subscription, item_dead_letters, stop_consuming
from shared.topology import delivery_queue, delivery_queue_name

log = structlog.get_logger("server_queues")

HandleDelivery = Callable[[UUID, DeliveryRequested, bool], Awaitable[None]]
"""What a consumer does with one message: (server id, the request, whether it was delivered before)."""

BatchTaken = Callable[[UUID, datetime], None]
"""Told of each message (a batch) taken from a server's queue: (server id, when it was routed)."""


class DeliveryScreen(Protocol):
    """Holds back some recipients of a batch before any of them is handled (the delivery worker's
    last suppression check)."""

    async def screen(self, requests: Sequence[DeliveryRequested]) -> Mapping[UUID, str]:
        """Asked once per batch: the messages not to hand to the handler, with why. A transient
        fault here leaves the whole batch waiting, nothing of it handled."""
        ...

    async def settle(
        self, server_id: UUID, request: DeliveryRequested, reason: str, redelivered: bool
    ) -> None:
        """Settle one held-back message instead of the handler (per recipient, as the handler is)."""
        ...


class ServerQueueConsumers:
    """One consumer per server queue at most, each started and stopped on demand."""

    def __init__(
        self,
        broker: RabbitBroker,
        handle: HandleDelivery,
        *,
        purpose: str,
        prefetch: int = 4,
        screen: DeliveryScreen | None = None,
        taken: BatchTaken | None = None,
        span: str = "delivery.deliver",
    ) -> None:
        """`span`: the name of each recipient's span (`shared.tracing.message_span`)."""
        self._broker = broker
        self._taken = taken
        self._handle = handle
        self._screen = screen
        self._purpose = purpose
        self._span = span
        self._prefetch = prefetch
        self._subscribers: dict[UUID, RabbitSubscriber] = {}
        self._running: set[UUID] = set()
        self._locks: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    def consuming(self, server_id: UUID) -> bool:
        return server_id in self._running

    @property
    def running(self) -> frozenset[UUID]:
        return frozenset(self._running)

    async def consume(self, vendor: str, server_id: UUID) -> None:
        """Start consuming the server's queue; does nothing if it is consumed already."""
        async with self._locks[server_id]:
            if server_id in self._running:
                return
            subscriber = self._subscribers.get(server_id)
            if subscriber is None:
                # Not persistent: this registry owns it, and the broker still drains it on shutdown.
                subscriber = self._broker.subscriber(
                    delivery_queue(vendor, server_id),
                    persistent=False,
                    **batch_subscription(IncomingDeliveries, self._prefetch),
                )
                handle, screen, taken = self._handle, self._screen, self._taken
                span, attributes = (
                    self._span,
                    {"sendpool.server_id": str(server_id), "sendpool.vendor": vendor},
                )
                broker, queue_name = self._broker, delivery_queue_name(vendor, server_id)

                async def on_message(body: IncomingDeliveries, message: RabbitMessage) -> None:
                    if taken is not None:
                        taken(server_id, body.routed_at)
                    requests = deliveries_of(body)
                    held_back = await screen.screen(requests) if screen is not None else {}

                    async def handle_one(request: DeliveryRequested, retry: bool) -> None:
                        send = request.send
                        reason = held_back.get(send.message_id)
                        with tracing.message_span(
                            span, send.message_id, send.traceparent, attributes=attributes
                        ):
                            if screen is None or reason is None:
                                await handle(server_id, request, retry)
                            else:
                                await screen.settle(server_id, request, reason, retry)

                    # aio-pika leaves `redelivered` None when the broker did not say: not redelivered.
                    await handle_each(
                        requests,
                        handle_one,
                        item_dead_letters(broker, message, queue_name, _alone),
                        redelivered=bool(message.raw_message.redelivered),
                    )

                subscriber(on_message)
                self._subscribers[server_id] = subscriber
            await subscriber.start()
            self._running.add(server_id)
            log.info(f"{self._purpose}: consuming server queue", server_id=str(server_id), vendor=vendor)

    async def stop(self, server_id: UUID) -> None:
        """Stop consuming the server's queue; the messages in hand are finished first."""
        async with self._locks[server_id]:
            if server_id not in self._running:
                return
            await stop_consuming(self._subscribers[server_id])
            self._running.discard(server_id)
            log.info(f"{self._purpose}: stopped consuming server queue", server_id=str(server_id))

    async def stop_all(self) -> None:
        for server_id in list(self._running):
            await self.stop(server_id)


def _alone(request: DeliveryRequested) -> DeliveryBatch:
    """A recipient to dead-letter, as a batch of one. Marked redelivered: its claim may still say
    `sending`, and a replay must take it over (and report `unknown` if it sends), not wait for an
    outcome nobody will record."""
    send = request.send.model_copy(update={"redelivered": True})
    [batch] = DeliveryBatch.of([request.model_copy(update={"send": send})])
    return batch
