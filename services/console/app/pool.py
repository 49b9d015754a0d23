"""The pool page: counts, vendor mix, hourly capacity, warmup and rates, and one page of servers.

Everything comes from the catalog at once (three calls in parallel): the operator's `/pool` or a
tenant's `/servers/summary`, the page of `/servers` the filters ask for, and `/server-types`.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.console.app.ports import Apis
from services.console.domain.session import Session

SERVER_STATES = ("active", "inactive", "paused", "disabled")


@dataclass(frozen=True)
class ServerFilters:
    text: str | None = None
    states: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    offset: int = 0

    def params(self, limit: int) -> list[tuple[str, Any]]:
        params: list[tuple[str, Any]] = [("limit", limit), ("offset", self.offset)]
        if self.text:
            params.append(("q", self.text))
        params += [("state", state) for state in self.states]
        params += [("type", type_) for type_ in self.types]
        return params

    @property
    def active(self) -> bool:
        return bool(self.text or self.states or self.types)


@dataclass(frozen=True)
class PoolView:
    summary: dict[str, Any]
    owners: list[dict[str, Any]]
    """Per owner counts (operator only): the pool first, then each tenant."""
    servers: dict[str, Any]
    """A `ServerPageOut`: `items`, `total`, `limit`, `offset`."""
    server_types: list[dict[str, Any]]
    filters: ServerFilters
    type_labels: dict[str, str] = field(default_factory=dict)
    """Each type's short name for people (`SMTP relay`), as the catalog labels it."""
    tenant_names: dict[str, str] = field(default_factory=dict)
    """The operator's view: each owning tenant's name by id (from the per-owner counts)."""


async def load_pool(apis: Apis, session: Session, filters: ServerFilters, *, page_size: int) -> PoolView:
    summary_call = (
        apis.catalog.get("/pool", session.token)
        if session.is_operator
        else apis.catalog.get("/servers/summary", session.token)
    )
    summary, servers, server_types = await asyncio.gather(
        summary_call,
        apis.catalog.get("/servers", session.token, params=filters.params(page_size)),
        apis.catalog.get("/server-types", session.token),
    )
    owners: list[dict[str, Any]] = []
    if session.is_operator:
        owners = summary["owners"]
        summary = summary["summary"]
    return PoolView(
        summary=summary,
        owners=owners,
        servers=servers,
        server_types=server_types,
        filters=filters,
        type_labels={item["name"]: item["label"] for item in server_types},
        tenant_names={
            str(owner["tenant_id"]): owner["tenant_name"] for owner in owners if owner["tenant_id"]
        },
    )
