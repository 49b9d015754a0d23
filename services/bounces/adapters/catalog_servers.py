"""The catalog as server protection sees it, over `catalog.rpc`: a cached view of its servers (from
a `SnapshotRequest`), pause requests that wait for their answer, and reputation reports that do not."""

import time
from collections.abc import Collection, Mapping
from uuid import UUID

from faststream.rabbit import RabbitBroker
from pydantic import TypeAdapter

from shared.contracts import (
    CatalogSnapshot,
    PauseServerRequest,
    RpcError,
    ServerReputationReport,
    ServerView,
    SnapshotRequest,
)
from shared.rpc import RpcClient
from shared.topology import CATALOG_RPC_QUEUE_NAME

_PAUSE_REPLY: TypeAdapter[ServerView | RpcError] = TypeAdapter(ServerView | RpcError)


class CatalogServers:
    def __init__(
        self,
        rpc: RpcClient,
        broker: RabbitBroker,
        *,
        view_seconds: float,
        timeout_seconds: float,
        report_expiry_seconds: float,
    ) -> None:
        self._rpc = rpc
        self._broker = broker
        self._view_seconds = view_seconds
        self._timeout = timeout_seconds
        self._report_expiry = report_expiry_seconds
        self._view: dict[UUID, ServerView] = {}
        self._fetched_at: float | None = None

    async def servers(self, wanted: Collection[UUID]) -> Mapping[UUID, ServerView]:
        age = None if self._fetched_at is None else time.monotonic() - self._fetched_at
        # A server the view lacks was added since it was fetched (it sent, so it exists), or deleted
        # (late bounces still count): fetched again, so that one missing now is unknown to the catalog.
        missing = any(server_id not in self._view for server_id in wanted)
        if age is None or age >= self._view_seconds or missing:
            snapshot = CatalogSnapshot.model_validate_json(
                await self._rpc.request(
                    SnapshotRequest().model_dump_json().encode(),
                    queue=CATALOG_RPC_QUEUE_NAME,
                    timeout=self._timeout,
                )
            )
            self._view = {server.id: server for server in snapshot.servers}
            self._fetched_at = time.monotonic()
        return {server_id: self._view[server_id] for server_id in wanted if server_id in self._view}

    async def pause(self, request: PauseServerRequest) -> ServerView | RpcError:
        reply = _PAUSE_REPLY.validate_json(
            await self._rpc.request(
                request.model_dump_json().encode(),
                queue=CATALOG_RPC_QUEUE_NAME,
                timeout=self._timeout,
                expiration=self._timeout,
            )
        )
        if isinstance(reply, ServerView):
            self._view[reply.id] = reply  # paused now: not asked again before the next snapshot
        else:
            self._fetched_at = None  # refused (not active, gone): the next round sees why
        return reply

    async def report(self, report: ServerReputationReport) -> None:
        # Expiring: a report the catalog did not take in time is stale, the next one replaces it.
        await self._broker.publish(
            report.model_dump_json().encode(),
            queue=CATALOG_RPC_QUEUE_NAME,
            content_type="application/json",
            expiration=self._report_expiry,
        )
