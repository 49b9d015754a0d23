"""The scheduler's RPC queue (`scheduler.rpc`), asked over RabbitMQ's direct reply-to: who owns a campaign."""

from uuid import UUID

from aiormq.exceptions import AMQPError
from pydantic import ValidationError

from shared.contracts import CampaignOwner, CampaignOwnerRequest
from shared.errors import DependencyUnavailable
from shared.rpc import RpcClient
from shared.topology import SCHEDULER_RPC_QUEUE_NAME

UNVERIFIED = (
    "the campaign's owner could not be verified with the scheduler ({why}); nothing was changed, try again"
)


class SchedulerCampaignOwners:
    """`CampaignOwners` over the scheduler's RPC queue; any failure is `DependencyUnavailable`, never a guess."""

    def __init__(self, rpc: RpcClient, *, timeout_seconds: float) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds

    async def owner_of(self, campaign_id: UUID) -> UUID | None:
        request = CampaignOwnerRequest(campaign_id=campaign_id)
        try:
            reply = await self._rpc.request(
                request.model_dump_json().encode(),
                queue=SCHEDULER_RPC_QUEUE_NAME,
                timeout=self._timeout,
                # Nobody waits for the answer any more once the request timed out.
                expiration=self._timeout,
            )
        except TimeoutError:
            raise DependencyUnavailable(
                UNVERIFIED.format(why=f"no answer within {self._timeout:g}s")
            ) from None
        # Returned unroutable (no scheduler ever declared its queue), or no broker at all.
        except (AMQPError, OSError):
            raise DependencyUnavailable(UNVERIFIED.format(why="the scheduler cannot be reached")) from None
        try:
            answer = CampaignOwner.model_validate_json(reply)
        except ValidationError:
            raise DependencyUnavailable(UNVERIFIED.format(why="its answer is unreadable")) from None
        if answer.campaign_id != campaign_id:
            raise DependencyUnavailable(UNVERIFIED.format(why="it answered about another campaign"))
        return answer.tenant_id
