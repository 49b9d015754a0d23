"""What the delivery worker needs from the catalog: its servers, and one server's connection settings."""

from typing import Protocol
from uuid import UUID

from shared.contracts import CatalogSnapshot, ServerSettingsReply


class CatalogUnavailable(Exception):
    """The catalog did not answer in time; asking again later may work."""


class Catalog(Protocol):
    async def snapshot(self) -> CatalogSnapshot: ...

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        """Settings with secrets in clear; raises `UnusableServer` when the catalog has none for the server."""
        ...
