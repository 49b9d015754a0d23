"""Who may see and change what: the operator everything, a tenant its own servers and, read-only, its plan's.

Tenants are walls: a server a tenant may not see is reported as not found, never as forbidden,
so that its existence does not leak.
"""

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from uuid import UUID

from services.catalog.domain.servers import Server
from shared.contracts import PlanView
from shared.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Actor:
    """The caller: the operator (no tenant) or one tenant."""

    tenant_id: UUID | None = None

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


OPERATOR = Actor()


class Visibility(Enum):
    MANAGED = "managed"  # the caller may change it
    SHARED = "shared"  # granted by the caller's plan: usable and readable, not changeable
    HIDDEN = "hidden"


def visibility(actor: Actor, server: Server, granted_ids: Collection[UUID]) -> Visibility:
    if actor.is_operator or server.tenant_id == actor.tenant_id:
        return Visibility.MANAGED
    if server.is_pool_server and server.id in granted_ids:
        return Visibility.SHARED
    return Visibility.HIDDEN


def require_visible(
    actor: Actor, server: Server | None, granted_ids: Collection[UUID], server_id: UUID
) -> Server:
    if server is None or visibility(actor, server, granted_ids) is Visibility.HIDDEN:
        raise NotFound(f"server {server_id} not found")
    return server


def require_managed(
    actor: Actor, server: Server | None, granted_ids: Collection[UUID], server_id: UUID
) -> Server:
    server = require_visible(actor, server, granted_ids, server_id)
    if visibility(actor, server, granted_ids) is Visibility.SHARED:
        raise Forbidden(
            f"server {server_id} is a pool server granted by your plan; only the operator can change it"
        )
    return server


def own_server_refusal(plan: PlanView | None, own_server_count: int) -> str | None:
    """Why a tenant on this plan may not add a server of its own, or None if it may.

    A tenant without a plan has no grants and no limits of its own: the defaults of a plan apply.
    """
    if plan is None:
        return None
    if plan.managed_pool:
        return f"your plan {plan.name!r} is a managed pool: the operator chooses its servers, and tenants cannot add their own"
    if not plan.allow_own_servers:
        return f"your plan {plan.name!r} does not allow tenants to add their own servers"
    if plan.server_quota is not None and own_server_count >= plan.server_quota:
        return f"your plan {plan.name!r} allows {plan.server_quota} server(s) of your own and you have {own_server_count}"
    return None
