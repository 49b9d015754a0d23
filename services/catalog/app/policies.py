"""Campaign sending policies, set by the tenant that owns the campaign (or by the operator for it).

The scheduler creates campaigns and chooses their ids, so only the scheduler knows who owns one:
every change is checked with it first. Without that check, a tenant that learnt (or guessed) another
tenant's campaign id could set that campaign's policy, and the owner's messages would be routed by
a policy that is not theirs.
"""

from typing import Protocol
from uuid import UUID

from services.catalog.app.ports import CatalogStore
from services.catalog.app.servers import visible_servers
from services.catalog.domain.access import Actor
from services.catalog.domain.policies import check_narrowing_allowed, check_selection, default_policy
from shared.contracts import CatalogEventKind, SendingPolicy, WeightedServer
from shared.errors import Forbidden, NotFound


class CampaignOwners(Protocol):
    async def owner_of(self, campaign_id: UUID) -> UUID | None:
        """The tenant that owns the campaign, None when there is no such campaign.

        Raises `shared.errors.DependencyUnavailable` when the scheduler cannot be asked."""
        ...


class Policies:
    def __init__(self, store: CatalogStore, owners: CampaignOwners) -> None:
        self._store = store
        self._owners = owners

    async def get(self, actor: Actor, campaign_id: UUID) -> SendingPolicy:
        async with self._store.transaction() as tx:
            policy = await tx.get_policy(campaign_id)
        if policy is not None and (actor.tenant_id is None or policy.tenant_id == actor.tenant_id):
            return policy  # its owner was verified when it was stored
        # None stored yet, or one another tenant stored before owners were verified (it never
        # applied to the owner): the default, if the campaign is the caller's to read.
        return default_policy(campaign_id, await self._owner(actor, campaign_id))

    async def put(
        self, actor: Actor, campaign_id: UUID, *, use_all: bool, selection: list[WeightedServer]
    ) -> SendingPolicy:
        """Store a campaign's policy, once the scheduler confirmed the campaign is the caller's.

        The owner's rules apply whoever sets it: its plan, and the servers it may use."""
        tenant_id = await self._owner(actor, campaign_id)
        owner = Actor(tenant_id=tenant_id)
        async with self._store.transaction() as tx:
            tenant = await tx.get_tenant(tenant_id)
            if tenant is None:
                raise Forbidden(f"tenant {tenant_id} does not exist any more")
            check_narrowing_allowed(await tx.get_plan(tenant.plan_id) if tenant.plan_id else None, use_all)
            usable = {listed.server.id for listed in await visible_servers(tx, owner)}
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

    async def _owner(self, actor: Actor, campaign_id: UUID) -> UUID:
        """The campaign's tenant, if the actor may act for it; another tenant's campaign is as
        unknown as one that does not exist, so that its existence does not leak."""
        owner = await self._owners.owner_of(campaign_id)
        if owner is None or (actor.tenant_id is not None and owner != actor.tenant_id):
            raise NotFound(f"campaign {campaign_id} not found")
        return owner
