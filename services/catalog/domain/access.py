"""Who may see and change what: the operator everything, a tenant its own servers and, read-only, its plan's.

Tenants are walls: a server a tenant may not see is reported as not found, never as forbidden,
so that its existence does not leak.

Server types that use the platform's own machine or IPs (`operator_only`) are the operator's: it
adds them as pool servers, which plans grant to tenants; a tenant never adds one, nor does the
operator hand one to a tenant to own.
"""

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from uuid import UUID

from services.catalog.domain.server_types import ServerTypeSpec
from services.catalog.domain.servers import Server
from shared.contracts import PlanView
from shared.errors import Forbidden, InvalidInput, NotFound


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


TENANT_SERVERS_MAX = 200
"""The most servers one tenant may own, whatever its plan: every server has a queue in RabbitMQ
from the moment it exists, so an unbounded count would let one tenant load the broker for all."""


def own_server_refusal(
    plan: PlanView | None, own_server_count: int, servers_max: int = TENANT_SERVERS_MAX
) -> str | None:
    """Why a tenant on this plan may not add a server of its own, or None if it may.

    A tenant without a plan has no grants and no limits of its own: the defaults of a plan apply.
    `servers_max` is the platform's cap, which holds under every plan (a plan's quota may be lower).
    """
    if own_server_count >= servers_max:
        return (
            f"this platform allows each tenant at most {servers_max} server(s) of its own and you have "
            f"{own_server_count}; delete one, or ask the operator"
        )
    if plan is None:
        return None
    if plan.managed_pool:
        return f"your plan {plan.name!r} is a managed pool: the operator chooses its servers, and tenants cannot add their own"
    if not plan.allow_own_servers:
        return f"your plan {plan.name!r} does not allow tenants to add their own servers"
    if plan.server_quota is not None and own_server_count >= plan.server_quota:
        return f"your plan {plan.name!r} allows {plan.server_quota} server(s) of your own and you have {own_server_count}"
    return None


def require_operator_for_new_server_of(actor: Actor, spec: ServerTypeSpec, tenant_id: UUID | None) -> None:
    """An operator-only type is added by the operator, as a pool server (no `tenant_id`)."""
    if not spec.operator_only:
        return
    if not actor.is_operator:
        raise Forbidden(
            f"server type {spec.name!r} runs on the platform's own machine or IP addresses: only the operator "
            "adds such servers, and your plan may grant you one; ask the operator"
        )
    if tenant_id is not None:
        raise InvalidInput.field(
            "tenant_id",
            f"a {spec.name!r} server is a pool server, granted to tenants through their plan; leave tenant_id out",
        )


def require_operator_for_server_of(actor: Actor, spec: ServerTypeSpec, server: Server, what: str) -> None:
    """Only the operator may `what` (enable, resume) a server of an operator-only type."""
    if spec.operator_only and not actor.is_operator:
        raise Forbidden(
            f"server {server.id} is of type {spec.name!r}, which runs on the platform's own machine or "
            f"IP addresses: only the operator can {what} it"
        )
