"""Plans: which pool servers a plan grants its tenants, and whether the operator manages the pool.

A managed pool (`managed_pool`) is a plan whose tenants send through the servers it grants and
nothing else of their choosing: they cannot add servers of their own, and a campaign always uses
every granted server (no narrowed selection). A plan that only forbids own servers still lets
its tenants choose among the granted ones.
"""

from collections.abc import Mapping
from uuid import UUID

from services.catalog.domain.servers import Server
from shared.errors import FieldError, InvalidInput


def check_grantable(server_ids: list[UUID], found: Mapping[UUID, Server]) -> None:
    """A plan grants pool servers only: a tenant's own server is never shared with other tenants."""
    errors: list[FieldError] = []
    for position, server_id in enumerate(server_ids):
        server = found.get(server_id)
        if server is None:
            errors.append(FieldError(("server_ids", position), f"server {server_id} not found"))
        elif not server.is_pool_server:
            errors.append(
                FieldError(
                    ("server_ids", position),
                    f"server {server_id} belongs to a tenant; a plan grants pool servers only",
                )
            )
    if len(set(server_ids)) != len(server_ids):
        errors.append(FieldError(("server_ids",), "a server is listed more than once"))
    if errors:
        raise InvalidInput(*errors)


def allows_own_servers(managed_pool: bool, allow_own_servers: bool | None) -> bool:
    """The plan's `allow_own_servers`: by default the opposite of a managed pool, which never allows them."""
    if allow_own_servers is None:
        return not managed_pool
    if managed_pool and allow_own_servers:
        raise InvalidInput.field(
            "allow_own_servers", "a managed pool cannot allow own servers; leave it out or false"
        )
    return allow_own_servers
