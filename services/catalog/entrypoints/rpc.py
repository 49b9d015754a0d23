"""`catalog.rpc`: what the router, the delivery workers and the bounces service ask the catalog,
answered to their reply-to."""

from typing import Annotated

import structlog
from faststream.rabbit import RabbitBroker, RabbitResponse
from pydantic import Field

from services.catalog.app.catalog import CatalogUseCases
from services.catalog.domain.access import OPERATOR
from shared.contracts import (
    CampaignSendersRequest,
    PauseServerRequest,
    PolicyRequest,
    RevokedTokensReply,
    RevokedTokensRequest,
    RpcError,
    ServerReputationReport,
    ServerSettingsRequest,
    SnapshotRequest,
)
from shared.errors import Conflict, NotFound
from shared.messaging import rpc_reply
from shared.topology import CATALOG_RPC_QUEUE

log = structlog.get_logger("catalog.rpc")

CatalogRequest = Annotated[
    SnapshotRequest
    | PolicyRequest
    | ServerSettingsRequest
    | PauseServerRequest
    | RevokedTokensRequest
    | ServerReputationReport
    | CampaignSendersRequest,
    Field(discriminator="kind"),
]


def register_rpc(broker: RabbitBroker, use: CatalogUseCases) -> None:
    @broker.subscriber(
        CATALOG_RPC_QUEUE,
        title="catalog.rpc",
        description="Answers a snapshot, a campaign's sending policy, a server's connection settings, or "
        "the revoked tenant tokens, or the servers a campaign may send through with their From domains; "
        "pauses a server on request; keeps a server's reputation the bounces service reports (no answer).",
    )
    async def answer(request: CatalogRequest) -> RabbitResponse | None:
        match request:
            case SnapshotRequest():
                return rpc_reply(await use.queries.snapshot())
            case RevokedTokensRequest():
                return rpc_reply(RevokedTokensReply(tokens=await use.tokens.revoked()))
            case CampaignSendersRequest(campaign_id=campaign_id, tenant_id=tenant_id):
                return rpc_reply(await use.queries.campaign_senders(campaign_id, tenant_id))
            case PolicyRequest(campaign_id=campaign_id, tenant_id=tenant_id):
                return rpc_reply(await use.queries.policy(campaign_id, tenant_id))
            case ServerSettingsRequest(server_id=server_id):
                try:
                    return rpc_reply(await use.queries.server_settings(server_id))
                except NotFound as exc:  # a valid question without an answer: say so rather than dead-letter
                    log.warning("server settings requested for an unknown server", server_id=str(server_id))
                    return rpc_reply(RpcError(error=str(exc)))
            case PauseServerRequest(server_id=server_id, reason=reason, requested_by=requested_by):
                try:
                    server = await use.servers.pause(OPERATOR, server_id, reason, by=requested_by)
                except (NotFound, Conflict) as exc:  # nothing to pause: the asker learns why, nothing retries
                    log.info("pause request refused", server_id=str(server_id), reason=str(exc))
                    return rpc_reply(RpcError(error=str(exc)))
                log.info("server paused on request", server_id=str(server_id), by=requested_by, reason=reason)
                return rpc_reply(server.view())
            case ServerReputationReport():
                if not await use.reputations.record(request):
                    log.debug(
                        "reputation report not kept (unknown server, or older)",
                        server_id=str(request.server_id),
                    )
                return None
