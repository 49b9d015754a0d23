"""The operator's tenants and plans: who uses the pool, on which plan, and which pool servers each
plan grants. Every call carries the operator's token (the catalog refuses these to anyone else)."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.console.app.campaigns import usable_servers
from services.console.app.ports import ApiRefused, Apis
from services.console.domain.session import Session

QUOTA_MAX = 1_000_000


class FormRefused(Exception):
    """The form cannot be sent as it is, or the catalog refused it (422): messages by field name."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class TenantsView:
    tenants: list[dict[str, Any]]
    plans: list[dict[str, Any]]
    plan_names: dict[str, str] = field(default_factory=dict)


async def load_tenants(apis: Apis, session: Session) -> TenantsView:
    tenants, plans = await asyncio.gather(
        apis.catalog.get("/tenants", session.token), apis.catalog.get("/plans", session.token)
    )
    return TenantsView(
        tenants=sorted(tenants, key=lambda t: str(t["name"]).lower()),
        plans=sorted(plans, key=lambda p: str(p["name"]).lower()),
        plan_names={str(plan["id"]): str(plan["name"]) for plan in plans},
    )


def _refused_fields(refused: ApiRefused, known: tuple[str, ...], fallback: str) -> dict[str, str]:
    if refused.status != 422:
        raise refused
    errors: dict[str, str] = {}
    for path, message in refused.fields.items():
        name = path.split(".")[0]
        errors.setdefault(name if name in known else fallback, message)
    return errors or {fallback: refused.detail}


def _name(raw: str, errors: dict[str, str]) -> str:
    name = raw.strip()
    if not name:
        errors["name"] = "Enter a name."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    return name


@dataclass(frozen=True)
class CreatedTenant:
    id: str
    name: str
    plan_id: str | None
    token: str
    """Shown once, on the page answering the creation; the catalog keeps only its hash."""
    token_id: str


async def create_tenant(apis: Apis, session: Session, name: str, plan_id: str) -> CreatedTenant:
    errors: dict[str, str] = {}
    clean = _name(name, errors)
    if errors:
        raise FormRefused(errors)
    try:
        created = await apis.catalog.post(
            "/tenants", session.token, json={"name": clean, "plan_id": plan_id or None}
        )
    except ApiRefused as refused:
        raise FormRefused(_refused_fields(refused, ("name", "plan_id"), "name")) from None
    return CreatedTenant(
        id=str(created["id"]),
        name=str(created["name"]),
        plan_id=str(created["plan_id"]) if created.get("plan_id") else None,
        token=str(created["token"]),
        token_id=str(created["token_id"]),
    )


async def move_tenant(apis: Apis, session: Session, tenant_id: str, plan_id: str) -> None:
    try:
        await apis.catalog.patch(f"/tenants/{tenant_id}", session.token, json={"plan_id": plan_id or None})
    except ApiRefused as refused:
        raise FormRefused(_refused_fields(refused, ("plan_id",), "plan_id")) from None


def plan_body(name: str, managed_pool: bool, allow_own_servers: bool, server_quota: str) -> dict[str, Any]:
    """The catalog's `PlanCreate` from the form, or `FormRefused` naming the fields at fault."""
    errors: dict[str, str] = {}
    clean = _name(name, errors)
    quota: int | None = None
    text = server_quota.strip()
    if text:
        if not text.isdigit() or int(text) > QUOTA_MAX:
            errors["server_quota"] = (
                f"Enter a whole number from 0 to {QUOTA_MAX:,}, or leave it blank for no limit."
            )
        else:
            quota = int(text)
    if managed_pool and allow_own_servers:
        errors["allow_own_servers"] = "A managed pool never allows own servers: untick one of the two."
    if errors:
        raise FormRefused(errors)
    return {
        "name": clean,
        "managed_pool": managed_pool,
        "allow_own_servers": allow_own_servers,
        "server_quota": quota,
    }


async def create_plan(apis: Apis, session: Session, body: dict[str, Any]) -> str:
    try:
        created = await apis.catalog.post("/plans", session.token, json=body)
    except ApiRefused as refused:
        raise FormRefused(
            _refused_fields(refused, ("name", "managed_pool", "allow_own_servers", "server_quota"), "name")
        ) from None
    return str(created["id"])


@dataclass(frozen=True)
class PlanView:
    plan: dict[str, Any]
    pool_servers: list[dict[str, Any]]
    """Servers with no owner (the operator's pool): what a plan may grant."""
    granted: set[str]
    tenants: list[dict[str, Any]]


async def load_plan(apis: Apis, session: Session, plan_id: str) -> PlanView:
    plan, servers, tenants = await asyncio.gather(
        apis.catalog.get(f"/plans/{plan_id}", session.token),
        usable_servers(apis, session),
        apis.catalog.get("/tenants", session.token),
    )
    return PlanView(
        plan=plan,
        pool_servers=[server for server in servers if server.get("tenant_id") is None],
        granted={str(server_id) for server_id in plan.get("server_ids", [])},
        tenants=[tenant for tenant in tenants if str(tenant.get("plan_id")) == plan_id],
    )


async def grant_servers(apis: Apis, session: Session, plan_id: str, server_ids: list[str]) -> None:
    try:
        await apis.catalog.put(f"/plans/{plan_id}/servers", session.token, json={"server_ids": server_ids})
    except ApiRefused as refused:
        raise FormRefused(_refused_fields(refused, ("server_ids",), "server_ids")) from None
