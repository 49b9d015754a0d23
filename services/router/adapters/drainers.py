"""Consumers that empty the queues of servers that can no longer send, back into routing."""

import asyncio
import contextlib
from typing import Protocol
from uuid import UUID

import structlog
from faststream.rabbit import RabbitBroker

from services.router.domain.view import RoutingView
from shared.background import until_done
from shared.contracts import DeliveryRequested
from shared.server_queues import ServerQueueConsumers
from shared.topology import delivery_queue

log = structlog.get_logger("router.failover")


class Rerouting(Protocol):
    """What the drainers need of the router: its view of the servers, and where drained messages go."""

    @property
    def view(self) -> RoutingView: ...

    async def reroute_from(self, server_id: UUID, message: DeliveryRequested, redelivered: bool) -> None: ...


class QueueDrainers:
    """One consumer per server that is paused, disabled, inactive or unhealthy, while it is.

    Delivery workers stop sending through such a server (`ServerView.refusal`, the rule both
    follow); what is already queued for it is consumed here and routed again among the other
    servers of each message's campaign: each recipient of a batch on its own, back to routing
    together in batches (`RabbitOutbound.back_to_routing`).
    """

    def __init__(self, broker: RabbitBroker, router: Rerouting, *, prefetch: int = 4) -> None:
        """`prefetch`: how many batches each drained queue has in hand at once."""
        self._broker = broker
        self._router = router
        self._consumers = ServerQueueConsumers(
            broker,
            router.reroute_from,
            purpose="draining a server that cannot send",
            prefetch=prefetch,
            span="router.reroute",
        )
        self._vendors: dict[UUID, str] = {}
        self._retiring: dict[UUID, asyncio.Task[None]] = {}

    def draining(self, server_id: UUID) -> bool:
        """Whether this replica consumes the server's queue now."""
        return self._consumers.consuming(server_id)

    async def sync(self) -> None:
        """Drain every server that cannot send now, and stop draining those that can again.

        Event handlers call this concurrently; each server's consumer starts and stops under a
        lock of its own, in the order the decisions were taken. So each server is decided on as
        the view has it when its turn comes, not as it was when this call began.
        """
        view = self._router.view
        for server_id in list(view.servers):
            server = view.servers.get(server_id)
            if server is None:  # deleted meanwhile: its retirement (below) drains its queue
                continue
            self._vendors[server_id] = server.vendor
            if view.refusal(server) is not None:
                await self._consumers.consume(server.vendor, server_id)
            else:
                await self._consumers.stop(server_id)
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
        await self._consumers.consume(vendor, server_id)
        while True:
            queue = await self._broker.declare_queue(delivery_queue(vendor, server_id))
            if queue.declaration_result.message_count == 0:
                break
            await asyncio.sleep(poll_seconds)
        await self._consumers.stop(server_id)
        # Not `if_empty`: quorum queues refuse it (not_implemented), closing the router's whole
        # connection, and the retirement retried it forever. It was empty a moment ago, and nothing
        # routes to a deleted server.
        await queue.delete(if_unused=False, if_empty=False)
        self._vendors.pop(server_id, None)
        self._retiring.pop(server_id, None)
        log.info("removed the queue of a deleted server", server_id=str(server_id), queue=queue.name)

    async def stop_all(self) -> None:
        retiring = list(self._retiring.values())
        for task in retiring:
            task.cancel()
        for task in retiring:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._consumers.stop_all()
