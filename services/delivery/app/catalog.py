"""What the delivery worker needs from the catalog: its servers, and one server's connection settings."""

from typing import Protocol
from uuid import UUID

from shared.contracts import CatalogSnapshot, ServerSettingsReply
from shared.transient import TransientFault


class CatalogUnavailable(Exception):
    """The catalog did not answer in time; asking again later may work."""


class CatalogUnreachable(CatalogUnavailable, TransientFault):
    """No answer in time, or the request could not be delivered: the catalog is down or restarting.

    A transient fault, so the consumer waits it out with the message in hand instead of spending
    the message's delivery limit on a catalog outage (`shared.transient`)."""

    fault = "catalog"


class Catalog(Protocol):
    async def snapshot(self) -> CatalogSnapshot: ...

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        """Settings with secrets in clear; raises `UnusableServer` when the catalog has none for the server."""
        ...
