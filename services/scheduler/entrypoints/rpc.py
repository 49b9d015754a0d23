"""`scheduler.rpc`: what other services ask the scheduler, answered to their reply-to."""

from faststream.rabbit import RabbitBroker, RabbitResponse

from services.scheduler.app.campaigns import Campaigns
from shared.contracts import CampaignOwner, CampaignOwnerRequest
from shared.messaging import rpc_reply
from shared.topology import SCHEDULER_RPC_QUEUE


def register_rpc(broker: RabbitBroker, campaigns: Campaigns) -> None:
    @broker.subscriber(
        SCHEDULER_RPC_QUEUE,
        title="scheduler.rpc",
        description="Answers which tenant owns a campaign (the catalog asks before it stores a sending policy).",
    )
    async def answer(request: CampaignOwnerRequest) -> RabbitResponse:
        owner = await campaigns.owner(request.campaign_id)
        return rpc_reply(CampaignOwner(campaign_id=request.campaign_id, tenant_id=owner))
