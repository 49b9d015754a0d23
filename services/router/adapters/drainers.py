"""Consumers that empty the queues of servers that can no longer send, back into routing."""

import asyncio
from uuid import UUID

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from services.router.app.routing import Router
from shared.background import until_done
from shared.contracts import DeliveryRequested
from shared.messaging import stop_consuming
from shared.topology import delivery_queue

log = structlog.get_logger("router.failover")


class QueueDrainers:
    """One consumer per server that is paused, disabled, inactive or unhealthy, while it is.

    Delivery workers stop sending through such a server; what is already queued for it is
    consumed here and routed again among the other servers of each message's campaign.
    """

    def __init__(self, broker: RabbitBroker, router: Router) -> None:
        self._broker = broker
        self._router = router
        self._subscribers: dict[UUID, object] = {}
        self._running: set[UUID] = set()
        self._vendors: dict[UUID, str] = {}
        self._retiring: dict[UUID, asyncio.Task] = {}
        # Event handlers call sync() concurrently; two starts of one subscriber would leak a consumer.
        self._lock = asyncio.Lock()

    async def sync(self) -> None:
        async with self._lock:
            await self._sync()

    async def _sync(self) -> None:
        view = self._router.view
        for server_id, server in list(view.servers.items()):
            self._vendors[server_id] = server.vendor
            should_drain = not view.is_sendable(server_id)
            if should_drain and server_id not in self._running:
                await self._start(server_id, server.vendor)
            elif not should_drain and server_id in self._running:
                await self._stop(server_id)
        for deleted in set(self._vendors) - set(view.servers) - set(self._retiring):
            self._retiring[deleted] = asyncio.create_task(self._retire(deleted))

    async def _retire(self, server_id: UUID, poll_seconds: float = 2.0) -> None:
        """A deleted server's queue is drained back into routing, then removed; tried until it is.

        The task runs on its own, so an error (the broker reconnecting, say) must not end it
        unseen: the queue would keep its messages and nothing would drain it again. Each failure
        is logged and counted like any background task's, and the retirement starts over.
        """
        await until_done(
            "router-retire-server-queue",
            lambda: self._retire_once(server_id, poll_seconds),
            server_id=str(server_id),
        )

    async def _retire_once(self, server_id: UUID, poll_seconds: float) -> None:
        vendor = self._vendors[server_id]
        async with self._lock:
            if server_id not in self._running:
                await self._start(server_id, vendor)
        while True:
            queue = await self._broker.declare_queue(delivery_queue(vendor, server_id))
            if queue.declaration_result.message_count == 0:
                break
            await asyncio.sleep(poll_seconds)
        async with self._lock:
            await self._stop(server_id)
        await queue.delete(if_unused=False, if_empty=True)
        self._vendors.pop(server_id, None)
        self._retiring.pop(server_id, None)
        log.info("removed the queue of a deleted server", server_id=str(server_id), queue=queue.name)

    async def _start(self, server_id: UUID, vendor: str) -> None:
        subscriber = self._subscribers.get(server_id)
        if subscriber is None:
            subscriber = self._broker.subscriber(delivery_queue(vendor, server_id), persistent=False)

            @subscriber
            async def drain(request: DeliveryRequested, message: RabbitMessage) -> None:
                await self._router.reroute_from(
                    server_id, request, redelivered=message.raw_message.redelivered
                )

            self._subscribers[server_id] = subscriber
        await subscriber.start()
        self._running.add(server_id)
        log.info("draining the queue of a server that cannot send", server_id=str(server_id))

    async def _stop(self, server_id: UUID) -> None:
        await stop_consuming(self._subscribers[server_id])
        self._running.discard(server_id)
        log.info("stopped draining; the server can send again", server_id=str(server_id))

    async def stop_all(self) -> None:
        for task in self._retiring.values():
            task.cancel()
        async with self._lock:
            for server_id in list(self._running):
                await self._stop(server_id)
