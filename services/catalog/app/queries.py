"""What other services ask the catalog over `catalog.rpc`: a snapshot, a campaign's policy, a server's settings."""

from uuid import UUID

from services.catalog.app.ports import CatalogStore, SecretBox
from services.catalog.app.servers import delivery_settings, visible_servers
from services.catalog.domain.access import Actor
from services.catalog.domain.policies import default_policy
from shared.contracts import (
    CampaignSender,
    CampaignSenders,
    CatalogSnapshot,
    SendingPolicy,
    ServerSettingsReply,
)
from shared.errors import NotFound


class CatalogQueries:
    def __init__(self, store: CatalogStore, secret_box: SecretBox) -> None:
        self._store = store
        self._box = secret_box

    async def snapshot(self) -> CatalogSnapshot:
        """Everything routing needs, with the id of the last event it already includes."""
        async with self._store.consistent_read() as tx:
            return CatalogSnapshot(
                last_event_id=await tx.last_event_id(),
                servers=[server.view() for server in await tx.list_servers()],
                plans=await tx.list_plans(),
                tenants=await tx.list_tenants(),
            )

    async def policy(self, campaign_id: UUID, tenant_id: UUID) -> SendingPolicy:
        async with self._store.transaction() as tx:
            policy = await tx.get_policy(campaign_id)
        # A policy stored by another tenant never applies: that tenant's servers are not this one's to use.
        if policy is None or policy.tenant_id != tenant_id:
            return default_policy(campaign_id, tenant_id)
        return policy

    async def campaign_senders(self, campaign_id: UUID, tenant_id: UUID) -> CampaignSenders:
        """The servers the campaign may send through, with the From domains each declares: its
        policy's selection if narrowed, else every server the tenant may use (own and granted).

        A selected server the tenant may no longer use is left out, as routing leaves it out."""
        policy = await self.policy(campaign_id, tenant_id)
        async with self._store.transaction() as tx:
            usable = {
                listed.server.id: listed.server for listed in await visible_servers(tx, Actor(tenant_id))
            }
        if policy.use_all:
            servers = list(usable.values())
        else:
            servers = [usable[item.server_id] for item in policy.selection if item.server_id in usable]
        return CampaignSenders(
            campaign_id=campaign_id,
            servers=[
                CampaignSender(
                    server_id=server.id,
                    from_domains=list(server.identity.public.from_domains) if server.identity else [],
                )
                for server in servers
            ],
        )

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        """Connection settings and identity with secrets in clear, for the delivery worker that sends through it."""
        async with self._store.transaction() as tx:
            server = await tx.get_server(server_id)
        if server is None:
            raise NotFound(f"server {server_id} not found")
        return ServerSettingsReply(
            server_id=server.id,
            type=server.type,
            vendor=server.vendor,
            settings=delivery_settings(server, self._box),
            version=server.version,
        )
