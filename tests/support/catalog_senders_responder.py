"""A stand-in for the catalog's `catalog.rpc`, for tests of a scheduler that runs without a catalog.

It answers what the scheduler asks: `CampaignSendersRequest` (the servers a campaign may use, with
their From domains: by default none declared, so any From passes, as with servers set up without an
identity) from what the test sets per tenant, and `RevokedTokensRequest` (none revoked). A tenant in
`silent` gets no answer, as when the catalog is down.
"""

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID, uuid4

from faststream.rabbit import Channel, RabbitBroker, RabbitResponse
from pydantic import Field

from shared.contracts import (
    CampaignSender,
    CampaignSenders,
    CampaignSendersRequest,
    RevokedTokensReply,
    RevokedTokensRequest,
)
from shared.messaging import rpc_reply
from shared.topology import CATALOG_RPC_QUEUE

Asked = Annotated[CampaignSendersRequest | RevokedTokensRequest, Field(discriminator="kind")]


class CatalogSendersResponder:
    def __init__(self, amqp_url: str) -> None:
        self.domains: dict[UUID, list[list[str]]] = {}
        """Per tenant, the from_domains of each of its servers (one list per server)."""
        self.silent: set[UUID] = set()
        self.asked: list[CampaignSendersRequest] = []
        self.broker = RabbitBroker(
            amqp_url, default_channel=Channel(publisher_confirms=True), log_level=logging.WARNING
        )

        @self.broker.subscriber(CATALOG_RPC_QUEUE)
        async def answer(request: Asked) -> RabbitResponse | None:
            if isinstance(request, RevokedTokensRequest):
                return rpc_reply(RevokedTokensReply(tokens=[]))
            self.asked.append(request)
            if request.tenant_id in self.silent:
                return None
            servers = [
                CampaignSender(server_id=uuid4(), from_domains=domains)
                for domains in self.domains.get(request.tenant_id, [])
            ]
            return rpc_reply(CampaignSenders(campaign_id=request.campaign_id, servers=servers))

    async def start(self) -> "CatalogSendersResponder":
        await self.broker.start()
        return self

    async def stop(self) -> None:
        await self.broker.stop()


@contextlib.asynccontextmanager
async def catalog_senders_responder(amqp_url: str) -> AsyncIterator[CatalogSendersResponder]:
    responder = await CatalogSendersResponder(amqp_url).start()
    try:
        yield responder
    finally:
        await responder.stop()
