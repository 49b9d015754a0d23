"""Requests to the catalog over RabbitMQ RPC (queue catalog.rpc), each with a time-out of its own."""

import asyncio
from uuid import UUID

import structlog
from pydantic import BaseModel

from shared.contracts import CatalogSnapshot, PolicyRequest, SendingPolicy, SnapshotRequest
from shared.rpc import RpcClient
from shared.topology import CATALOG_RPC_QUEUE_NAME

log = structlog.get_logger("router.catalog")


class CatalogClient:
    def __init__(
        self, rpc: RpcClient, *, snapshot_timeout_seconds: float, policy_timeout_seconds: float
    ) -> None:
        self._rpc = rpc
        self._snapshot_timeout = snapshot_timeout_seconds
        self._policy_timeout = policy_timeout_seconds

    async def _ask(self, request: BaseModel, timeout: float) -> bytes:
        return await self._rpc.request(
            request.model_dump_json().encode(), queue=CATALOG_RPC_QUEUE_NAME, timeout=timeout
        )

    async def snapshot(self, attempts: int = 30) -> CatalogSnapshot:
        """The catalog's routing view; waits for the catalog if it is still starting."""
        for attempt in range(1, attempts + 1):
            try:
                return CatalogSnapshot.model_validate_json(
                    await self._ask(SnapshotRequest(), self._snapshot_timeout)
                )
            except TimeoutError:
                log.warning("catalog did not answer the snapshot request; retrying", attempt=attempt)
                await asyncio.sleep(min(attempt, 5))
        raise RuntimeError(f"the catalog did not answer a snapshot request after {attempts} attempts")

    async def policy(self, campaign_id: UUID, tenant_id: UUID) -> SendingPolicy:
        return SendingPolicy.model_validate_json(
            await self._ask(PolicyRequest(campaign_id=campaign_id, tenant_id=tenant_id), self._policy_timeout)
        )
