"""`bounces.rpc`: what the scheduler and the delivery workers ask the bounces service, answered to their reply-to."""

from faststream.rabbit import RabbitBroker, RabbitResponse

from services.bounces.app.suppressions import SuppressionLists
from shared.contracts import SuppressionCheck, SuppressionCheckReply
from shared.messaging import rpc_reply
from shared.topology import BOUNCES_RPC_QUEUE


def register_rpc(broker: RabbitBroker, suppressions: SuppressionLists) -> None:
    @broker.subscriber(
        BOUNCES_RPC_QUEUE,
        title="bounces.rpc",
        description="Answers which of a batch of addresses may not be mailed for a tenant (its suppression "
        "list and the global one, unexpired, compared case-insensitively), with why; one query per request.",
    )
    async def answer(request: SuppressionCheck) -> RabbitResponse:
        suppressed = await suppressions.check(request.tenant_id, request.addresses)
        return rpc_reply(SuppressionCheckReply(suppressed=suppressed))
