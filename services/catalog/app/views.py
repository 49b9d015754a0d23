"""What a tenant's servers add up to, and the operator's view of the whole pool."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from services.catalog.app.ports import CatalogStore
from services.catalog.app.servers import visible_servers
from services.catalog.domain.access import Actor
from services.catalog.domain.summary import ServerSummary, StateCounts, summarise
from shared.contracts import utcnow
from shared.errors import Forbidden, NotFound


@dataclass(frozen=True)
class OwnerCounts:
    tenant_id: UUID | None  # None: the operator's pool servers
    tenant_name: str | None
    counts: StateCounts


@dataclass(frozen=True)
class PoolView:
    summary: ServerSummary  # across every tenant and the pool servers
    owners: list[OwnerCounts]  # pool servers first, then tenants by name


def _today() -> date:
    return utcnow().date()


class ServerViews:
    def __init__(self, store: CatalogStore, today: Callable[[], date] = _today) -> None:
        self._store = store
        self._today = today

    async def summary(self, actor: Actor, tenant_id: UUID | None = None) -> ServerSummary:
        """The servers the caller may use; the operator may ask for one tenant's, as that tenant sees them."""
        if tenant_id is not None and not actor.is_operator:
            raise Forbidden("tenant_id is for the operator; your summary covers your servers already")
        async with self._store.consistent_read() as tx:
            if tenant_id is not None:
                if await tx.get_tenant(tenant_id) is None:
                    raise NotFound(f"tenant {tenant_id} not found")
                actor = Actor(tenant_id=tenant_id)
            listed = await visible_servers(tx, actor)
        return summarise((item.server.view() for item in listed), self._today())

    async def pool(self) -> PoolView:
        async with self._store.consistent_read() as tx:
            servers = [server.view() for server in await tx.list_servers()]
            tenants: dict[UUID | None, str] = {tenant.id: tenant.name for tenant in await tx.list_tenants()}
        by_owner = defaultdict(list)
        for server in servers:
            by_owner[server.tenant_id].append(server)
        owners = [
            OwnerCounts(tenant_id=owner, tenant_name=tenants.get(owner), counts=StateCounts.of(owned))
            for owner, owned in by_owner.items()
        ]
        owners.sort(key=lambda row: (row.tenant_id is not None, row.tenant_name or "", str(row.tenant_id)))
        return PoolView(summary=summarise(servers, self._today()), owners=owners)
