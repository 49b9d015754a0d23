"""Campaign sending policies, set by the tenant that owns the campaign."""

from uuid import UUID

from services.catalog.app.ports import CatalogStore
from services.catalog.app.servers import visible_servers
from services.catalog.domain.access import Actor
from services.catalog.domain.policies import check_narrowing_allowed, check_selection, default_policy
from shared.contracts import CatalogEventKind, SendingPolicy, WeightedServer
from shared.errors import Forbidden, NotFound

TENANT_ONLY = "sending policies belong to a tenant's campaigns; call this with the tenant's token"


class Policies:
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    async def get(self, actor: Actor, campaign_id: UUID) -> SendingPolicy:
        tenant_id = _tenant_of(actor)
        async with self._store.transaction() as tx:
            policy = await tx.get_policy(campaign_id)
        if policy is None:
            return default_policy(campaign_id, tenant_id)
        if policy.tenant_id != tenant_id:
            raise NotFound(f"campaign {campaign_id} not found")
        return policy

    async def put(
        self, actor: Actor, campaign_id: UUID, *, use_all: bool, selection: list[WeightedServer]
    ) -> SendingPolicy:
        """Store a campaign's policy; the first tenant to set it owns the campaign's policy from then on."""
        tenant_id = _tenant_of(actor)
        async with self._store.transaction() as tx:
            tenant = await tx.get_tenant(tenant_id)
            if tenant is None:
                raise Forbidden(f"tenant {tenant_id} does not exist any more")
            check_narrowing_allowed(await tx.get_plan(tenant.plan_id) if tenant.plan_id else None, use_all)
            usable = {listed.server.id for listed in await visible_servers(tx, actor)}
            check_selection(use_all, selection, usable)
            saved = await tx.save_policy(
                SendingPolicy(
                    campaign_id=campaign_id, tenant_id=tenant_id, use_all=use_all, selection=selection
                )
            )
            if saved is None:
                raise NotFound(f"campaign {campaign_id} not found")
            await tx.record_event(CatalogEventKind.POLICY_CHANGED, policy=saved)
        return saved


def _tenant_of(actor: Actor) -> UUID:
    if actor.tenant_id is None:
        raise Forbidden(TENANT_ONLY)
    return actor.tenant_id
