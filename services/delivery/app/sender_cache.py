"""One sender per server, kept between messages so that its connections are reused.

A sender is built from the settings the catalog holds for the server, together with the
identity its messages are signed and addressed with. When the catalog announces a newer
version of a server (its settings may have changed), the old sender is retired and the next
message builds a new one from fresh settings.
"""

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from uuid import UUID

import structlog

from services.delivery.app.ports import Catalog, Sender, SenderFactory, ServerSender, UnusableServer
from services.delivery.domain.identity import InvalidIdentity, identity_from_settings

log = structlog.get_logger("delivery.senders")


@dataclass(frozen=True)
class _Entry:
    version: int
    server: ServerSender

    @property
    def sender(self) -> Sender:
        return self.server.sender


class SenderCache:
    def __init__(self, catalog: Catalog, build_sender: SenderFactory) -> None:
        self._catalog = catalog
        self._build_sender = build_sender
        self._entries: dict[UUID, _Entry] = {}
        self._announced_versions: dict[UUID, int] = {}
        self._locks: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def sender_for(self, server_id: UUID) -> ServerSender:
        """The server's sender and identity. Raises `UnusableServer`, or `CatalogUnavailable` when
        settings cannot be fetched."""
        entry = self._entries.get(server_id)
        if entry is not None and not self._outdated(server_id, entry):
            return entry.server
        async with self._locks[server_id]:  # one catalog request per server, however many messages wait
            entry = self._entries.get(server_id)
            if entry is not None and not self._outdated(server_id, entry):
                return entry.server
            reply = await self._catalog.server_settings(server_id)
            try:
                identity = identity_from_settings(reply.settings.identity)
            except InvalidIdentity as exc:
                raise UnusableServer(str(exc)) from None
            server = ServerSender(self._build_sender(reply.type, reply.settings), identity)
            version = max(reply.version, self._announced_versions.get(server_id, 0))
            self._entries[server_id] = _Entry(version, server)
            log.info(
                "sender built",
                server_id=str(server_id),
                version=version,
                type=reply.type,
                dkim=identity is not None and identity.signs,
            )
            return server

    def _outdated(self, server_id: UUID, entry: _Entry) -> bool:
        return entry.version < self._announced_versions.get(server_id, 0)

    async def server_changed(self, server_id: UUID, version: int) -> None:
        """The catalog announced `version` of the server; a sender built from older settings is retired."""
        self._announced_versions[server_id] = max(version, self._announced_versions.get(server_id, 0))
        entry = self._entries.get(server_id)
        if entry is not None and self._outdated(server_id, entry):
            del self._entries[server_id]
            await entry.sender.close()

    async def forget(self, server_id: UUID) -> None:
        self._announced_versions.pop(server_id, None)
        entry = self._entries.pop(server_id, None)
        if entry is not None:
            await entry.sender.close()

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        await asyncio.gather(*(entry.sender.close() for entry in entries))
