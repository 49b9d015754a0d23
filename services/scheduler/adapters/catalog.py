"""Asking the catalog which servers a campaign may send through, and their From domains
(`CampaignSendersRequest` on `catalog.rpc`).

No answer is never "any From will do": launching waits for the catalog (a 503 the tenant retries).
"""

import json
from uuid import UUID

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pydantic import ValidationError

from shared.contracts import CampaignSenders, CampaignSendersRequest
from shared.errors import DependencyUnavailable
from shared.rpc import RpcClient
from shared.topology import CATALOG_RPC_QUEUE_NAME


class CatalogSenders:
    """`services.scheduler.app.ports.SenderDomains` over `shared.rpc.RpcClient`."""

    def __init__(self, rpc: RpcClient, *, timeout_seconds: float) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds

    async def of_campaign(self, tenant_id: UUID, campaign_id: UUID) -> CampaignSenders:
        request = CampaignSendersRequest(campaign_id=campaign_id, tenant_id=tenant_id)
        unavailable = (
            "the catalog did not say which servers the campaign may use; nothing changed, try again shortly"
        )
        try:
            body = await self._rpc.request(
                request.model_dump_json().encode(),
                queue=CATALOG_RPC_QUEUE_NAME,
                timeout=self._timeout,
                expiration=self._timeout,
            )
        except TimeoutError:
            raise DependencyUnavailable(f"{unavailable} (no answer within {self._timeout:g}s)") from None
        except (AMQPError, ChannelInvalidStateError) as exc:
            raise DependencyUnavailable(f"{unavailable} ({type(exc).__name__})") from None
        try:
            reply = json.loads(body)
            # An `RpcError` would validate as "no servers": the answer must say `servers`.
            if not isinstance(reply, dict) or "servers" not in reply:
                raise ValueError("it has no `servers`")
            return CampaignSenders.model_validate(reply)
        except (ValueError, ValidationError):
            raise DependencyUnavailable(f"{unavailable} (its answer was unusable)") from None
