"""Which campaigns are paused or cancelled, asked of any router replica over RPC (queue router.campaign-holds)."""

import structlog
from aio_pika.exceptions import DeliveryError

from services.delivery.app.campaign_holds import NoRouterRunning
from shared.contracts import CampaignHolds, CampaignHoldsRequest
from shared.rpc import RpcClient
from shared.topology import ROUTER_CAMPAIGN_HOLDS_QUEUE_NAME

log = structlog.get_logger("delivery.router_holds")


class RouterCampaignHoldsRpc:
    def __init__(self, rpc: RpcClient, *, timeout_seconds: float) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds

    async def __call__(self) -> CampaignHolds:
        """Raises `TimeoutError` when no router answers in time, at once when no router is running."""
        if await self._rpc.consumers(ROUTER_CAMPAIGN_HOLDS_QUEUE_NAME) == 0:
            # Nobody could answer: waiting out the timeout would only keep this worker idle (a worker
            # started while its routers are down). It sends meanwhile and asks again in the background.
            raise NoRouterRunning("no router consumes router.campaign-holds")
        try:
            reply = await self._rpc.request(
                CampaignHoldsRequest().model_dump_json().encode(),
                queue=ROUTER_CAMPAIGN_HOLDS_QUEUE_NAME,
                timeout=self._timeout,
                # No expiration: the queue dead-letters what expires in it (see shared.suppression),
                # and a question answered late is one cheap read on the router.
            )
        except DeliveryError:
            # The queue is durable: it exists once a router has ever started on this broker. Without
            # it no router has run, so no campaign is held; decisions to come arrive as events.
            log.info("no router has run on this broker yet: no campaign is paused or cancelled")
            return CampaignHolds()
        return CampaignHolds.model_validate_json(reply)
