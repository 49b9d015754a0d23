"""Operator use cases: tenants, their tokens, and the plans that decide what tenants may send through."""

from typing import Any
from uuid import UUID, uuid4

from services.catalog.app.ports import CatalogStore, CatalogTransaction
from services.catalog.app.tokens import TokenSigner, record_new_token
from services.catalog.domain.plans import allows_own_servers, check_grantable
from services.catalog.domain.policies import widened
from services.catalog.domain.tokens import TokenRecord
from shared.contracts import CatalogEventKind, PlanView, TenantView
from shared.errors import InvalidInput, NotFound


class Tenancy:
    def __init__(self, store: CatalogStore, sign_token: TokenSigner) -> None:
        self._store = store
        self._sign_token = sign_token

    async def create_tenant(self, name: str, plan_id: UUID | None) -> tuple[TenantView, TokenRecord, str]:
        """A new tenant and its first API token (the only time the token is shown)."""
        tenant = TenantView(id=uuid4(), name=name, plan_id=plan_id)
        async with self._store.transaction() as tx:
            await _require_plan(tx, plan_id)
            await tx.save_tenant(tenant)
            await tx.record_event(CatalogEventKind.TENANT_CHANGED, tenant=tenant)
            record, token = await record_new_token(
                tx, self._sign_token, tenant.id, label="first token", expires_at=None
            )
        return tenant, record, token

    async def list_tenants(self) -> list[TenantView]:
        async with self._store.transaction() as tx:
            return await tx.list_tenants()

    async def move_tenant(self, tenant_id: UUID, plan_id: UUID | None) -> TenantView:
        async with self._store.transaction() as tx:
            tenant = await _require_tenant(tx, tenant_id, lock=True)
            await _require_plan(tx, plan_id)
            if tenant.plan_id == plan_id:
                return tenant
            tenant = tenant.model_copy(update={"plan_id": plan_id})
            await tx.save_tenant(tenant)
            await tx.record_event(CatalogEventKind.TENANT_CHANGED, tenant=tenant)
            plan = await tx.get_plan(plan_id) if plan_id else None
            if plan is not None and plan.managed_pool:
                await _widen_narrowed_policies(tx, tenant.id)
        return tenant

    async def create_plan(
        self,
        name: str,
        *,
        allow_own_servers: bool | None,
        server_quota: int | None,
        server_ids: list[UUID],
        managed_pool: bool = False,
    ) -> PlanView:
        plan = PlanView(
            id=uuid4(),
            name=name,
            allow_own_servers=allows_own_servers(managed_pool, allow_own_servers),
            server_quota=server_quota,
            server_ids=server_ids,
            managed_pool=managed_pool,
        )
        async with self._store.transaction() as tx:
            await _check_grantable(tx, server_ids)
            await tx.save_plan(plan)
            await tx.record_event(CatalogEventKind.PLAN_CHANGED, plan=plan)
        return plan

    async def grant_servers(self, plan_id: UUID, server_ids: list[UUID]) -> PlanView:
        async with self._store.transaction() as tx:
            plan = await _require_existing_plan(tx, plan_id)
            await _check_grantable(tx, server_ids)
            plan = plan.model_copy(update={"server_ids": server_ids})
            await tx.save_plan(plan)
            await tx.record_event(CatalogEventKind.PLAN_CHANGED, plan=plan)
        return plan

    async def get_plan(self, plan_id: UUID) -> PlanView:
        async with self._store.transaction() as tx:
            return await _require_existing_plan(tx, plan_id)

    async def change_plan(self, plan_id: UUID, changes: dict[str, Any]) -> PlanView:
        """Change a plan's name, pool management, own-server allowance or quota (`changes` holds
        only the fields given). A plan turned into a managed pool widens its tenants' narrowed
        campaigns, as moving a tenant onto one does."""
        async with self._store.transaction() as tx:
            plan = await _require_existing_plan(tx, plan_id)
            managed_pool = changes.get("managed_pool", plan.managed_pool)
            # Left out, the allowance stays as it is, unless the pool is managed (which never allows).
            requested = changes.get("allow_own_servers", None if managed_pool else plan.allow_own_servers)
            allowed = allows_own_servers(managed_pool, requested)
            changed = plan.model_copy(update={**changes, "allow_own_servers": allowed})
            if changed == plan:
                return plan
            await tx.save_plan(changed)
            await tx.record_event(CatalogEventKind.PLAN_CHANGED, plan=changed)
            if changed.managed_pool and not plan.managed_pool:
                for tenant in await tx.list_tenants():
                    if tenant.plan_id == plan_id:
                        await _widen_narrowed_policies(tx, tenant.id)
        return changed

    async def list_plans(self) -> list[PlanView]:
        async with self._store.transaction() as tx:
            return await tx.list_plans()


async def _require_tenant(tx: CatalogTransaction, tenant_id: UUID, *, lock: bool = False) -> TenantView:
    tenant = await tx.get_tenant(tenant_id, lock=lock)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return tenant


async def _check_grantable(tx: CatalogTransaction, server_ids: list[UUID]) -> None:
    # Locked, so that a server deleted meanwhile is either gone here (a 422 naming it) or deleted
    # after this commit, with the plan's grant removed and announced.
    check_grantable(server_ids, await tx.get_servers(server_ids, share_lock=True))


async def _require_existing_plan(tx: CatalogTransaction, plan_id: UUID) -> PlanView:
    plan = await tx.get_plan(plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    return plan


async def _require_plan(tx: CatalogTransaction, plan_id: UUID | None) -> None:
    if plan_id is not None and await tx.get_plan(plan_id) is None:
        raise InvalidInput.field("plan_id", f"plan {plan_id} not found")


async def _widen_narrowed_policies(tx: CatalogTransaction, tenant_id: UUID) -> None:
    """A tenant moved onto a managed pool: campaigns it had narrowed now use every server, and the
    router hears so like any other policy change."""
    for policy in await tx.narrowed_policies_of(tenant_id):
        saved = await tx.save_policy(widened(policy))
        await tx.record_event(CatalogEventKind.POLICY_CHANGED, policy=saved)
