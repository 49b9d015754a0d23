"""The catalog's RPC queue (`catalog.rpc`), asked over RabbitMQ's direct reply-to."""

import json
from typing import Any
from uuid import UUID

from aiormq.exceptions import AMQPError
from pydantic import ValidationError

from services.delivery.adapters.server_settings import problems_of
from services.delivery.app.ports import CatalogUnavailable, CatalogUnreachable, UnusableServer
from shared.contracts import CatalogSnapshot, ServerSettingsReply, ServerSettingsRequest, SnapshotRequest
from shared.rpc import RpcClient
from shared.topology import CATALOG_RPC_QUEUE_NAME


class CatalogRpc:
    def __init__(
        self, rpc: RpcClient, *, snapshot_timeout_seconds: float, server_settings_timeout_seconds: float
    ) -> None:
        self._rpc = rpc
        self._snapshot_timeout = snapshot_timeout_seconds
        self._server_settings_timeout = server_settings_timeout_seconds

    async def snapshot(self) -> CatalogSnapshot:
        reply = await self._ask(SnapshotRequest(), self._snapshot_timeout)
        try:
            return CatalogSnapshot.model_validate(reply)
        except ValidationError as exc:
            raise CatalogUnavailable(f"the catalog's snapshot does not validate: {exc}") from None

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        reply = await self._ask(ServerSettingsRequest(server_id=server_id), self._server_settings_timeout)
        try:
            return ServerSettingsReply.model_validate(reply)
        except ValidationError as exc:
            # An error reply says why; settings that do not validate are named field by field, never
            # repeated: they hold the server's credentials in clear.
            said = (reply.get("detail") or reply.get("error")) if isinstance(reply, dict) else None
            why = said or problems_of(exc)
            raise UnusableServer(f"the catalog has no connection settings for it ({why})") from None

    async def _ask(self, request: SnapshotRequest | ServerSettingsRequest, timeout: float) -> Any:
        try:
            reply = await self._rpc.request(
                request.model_dump_json().encode(), queue=CATALOG_RPC_QUEUE_NAME, timeout=timeout
            )
        except TimeoutError:
            raise CatalogUnreachable(f"no answer to {request.kind} within {timeout}s") from None
        except AMQPError as exc:  # e.g. nothing consumes catalog.rpc yet, so the request is returned
            raise CatalogUnreachable(f"{request.kind} request not delivered: {exc!r}") from None
        try:
            return json.loads(reply)
        except ValueError:
            raise CatalogUnavailable(f"the catalog's answer to {request.kind} is not JSON") from None
