"""Which per-server queues this worker consumes: those of its vendor's servers that may send.

The worker learns its servers from a catalog snapshot when it starts, then from catalog
events, so a server added later is served without a restart. Applying a server twice is
harmless, because the snapshot and the events may overlap.

A server may send while `ServerView.refusal` finds nothing against it (the rule the router
follows too): it is `active` and its circuit breaker is closed. The queue of any other server
is left alone: the router drains it back into routing, so its messages move to the other
servers of their campaigns. A message this worker already holds for such a server is handed
back to routing unsent (see `refusal`).
"""

import asyncio
from collections import defaultdict
from uuid import UUID

import structlog

from services.delivery.app.ports import Catalog, CatalogUnavailable, ServerQueues
from services.delivery.app.sender_cache import SenderCache
from shared.catalog_order import NewestCatalogNews
from shared.contracts import CatalogEvent, CatalogEventKind, ServerView, circuit_refusal

log = structlog.get_logger("delivery.fleet")


class ServerFleet:
    def __init__(
        self,
        vendor: str,
        catalog: Catalog,
        queues: ServerQueues,
        senders: SenderCache,
        *,
        snapshot_waits: tuple[float, ...] = (0.5, 1, 2, 5, 10),
    ) -> None:
        self._vendor = vendor
        self._catalog = catalog
        self._queues = queues
        self._senders = senders
        self._snapshot_waits = snapshot_waits
        self._servers: dict[UUID, ServerView] = {}
        self._open_circuits: dict[UUID, str] = {}
        # One decision at a time per server, so a late "consume" never undoes a newer "stop".
        self._locks: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)
        # The worker consumes catalog events before its snapshot arrives: older news of a server
        # (a snapshot taken before an event already applied, a redelivered event) is ignored.
        self._newest: NewestCatalogNews[UUID] = NewestCatalogNews()

    async def load(self) -> int:
        """Ask the catalog for every server until it answers, and serve this vendor's; returns how many."""
        tries = 0
        while True:
            try:
                snapshot = await self._catalog.snapshot()
                break
            except CatalogUnavailable as exc:
                wait = self._snapshot_waits[min(tries, len(self._snapshot_waits) - 1)]
                tries += 1
                log.warning("catalog snapshot unavailable; asking again", error=str(exc), wait_seconds=wait)
                await asyncio.sleep(wait)
        for server in snapshot.servers:
            if self._newest.admit(server.id, snapshot.last_event_id):
                await self._apply_server(server)
        log.info("catalog snapshot applied", vendor=self._vendor, servers=len(self._servers))
        return len(self._servers)

    async def apply(self, event: CatalogEvent) -> None:
        server_id = event.server.id if event.server is not None else event.deleted_id
        if server_id is None:
            return
        if not self._newest.admit(server_id, event.event_id):
            return
        if event.kind is CatalogEventKind.SERVER_CHANGED and event.server is not None:
            await self._apply_server(event.server)
        elif event.kind is CatalogEventKind.SERVER_DELETED:
            await self._drop(server_id)

    def refusal(self, server_id: UUID) -> str | None:
        """Why this worker must not send through the server now, or None.

        A server the worker has not heard of yet is refused only for an open circuit: the router
        may know of it a moment earlier, and the sender asks the catalog for its settings anyway.
        """
        open_circuit = self._open_circuits.get(server_id)
        server = self._servers.get(server_id)
        return circuit_refusal(open_circuit) if server is None else server.refusal(open_circuit)

    def serves(self, server_id: UUID) -> bool:
        return server_id in self._servers

    async def circuit_opened(self, server_id: UUID, reason: str) -> None:
        self._open_circuits[server_id] = reason
        await self._follow(server_id)

    async def circuit_closed(self, server_id: UUID) -> None:
        self._open_circuits.pop(server_id, None)
        await self._follow(server_id)

    async def _apply_server(self, server: ServerView) -> None:
        if server.vendor != self._vendor:
            await self._drop(server.id)  # only if it was ours before its type changed
            return
        known = self._servers.get(server.id)
        self._servers[server.id] = server
        await self._senders.server_changed(server.id, server.version)
        if known is None or known.state is not server.state:
            log.info("server state", server_id=str(server.id), name=server.name, state=server.state.value)
        await self._follow(server.id)

    async def _follow(self, server_id: UUID) -> None:
        """Consume the server's queue if, and only if, it may send now."""
        async with self._locks[server_id]:
            if server_id in self._servers and self.refusal(server_id) is None:
                await self._queues.consume(self._vendor, server_id)
            else:
                await self._queues.stop(server_id)

    async def _drop(self, server_id: UUID) -> None:
        if self._servers.pop(server_id, None) is None:
            return
        self._open_circuits.pop(server_id, None)
        await self._follow(server_id)
        await self._senders.forget(server_id)
        log.info("server no longer served", server_id=str(server_id))
