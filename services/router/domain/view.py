"""The router's in-memory picture of the catalog: servers, plans, tenants and campaign policies.

It is built from a snapshot and kept current by catalog events. Events can arrive before the
snapshot that already contains them, or (with several catalog replicas) slightly out of order,
so every entity remembers the id of the event that last set it and older news is ignored.

`generation` counts the changes: routing keeps what it derived from the view (a campaign's
candidate servers) only while the generation it derived it at is current.
"""

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from shared.catalog_order import NewestCatalogNews
from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    CatalogSnapshot,
    PlanView,
    SendingPolicy,
    ServerHealthEvent,
    ServerView,
    TenantView,
)


@dataclass
class RoutingView:
    servers: dict[UUID, ServerView] = field(default_factory=dict)
    plans: dict[UUID, PlanView] = field(default_factory=dict)
    tenants: dict[UUID, TenantView] = field(default_factory=dict)
    policies: dict[UUID, SendingPolicy] = field(default_factory=dict)
    unhealthy: dict[UUID, str] = field(default_factory=dict)
    """Servers whose circuit delivery reported open, with the reason; kept until it closes."""
    snapshot_event_id: int = 0
    generation: int = 0
    """Moves on with every change made through the methods below (change the view only through them)."""
    _newest: NewestCatalogNews[tuple[str, UUID]] = field(default_factory=NewestCatalogNews)

    def load(self, snapshot: CatalogSnapshot) -> None:
        """Take the snapshot's state, except where a newer event has already been applied."""
        at = snapshot.last_event_id
        self.snapshot_event_id = at
        self.generation += 1
        for kind, store, items in (
            ("server", self.servers, snapshot.servers),
            ("plan", self.plans, snapshot.plans),
            ("tenant", self.tenants, snapshot.tenants),
        ):
            present = {item.id: item for item in items}
            for gone in set(store) - set(present):
                self._put(kind, gone, at, store, None)
            for key, item in present.items():
                self._put(kind, key, at, store, item)

    def apply(self, event: CatalogEvent) -> None:
        self.generation += 1
        match event.kind:
            case CatalogEventKind.SERVER_CHANGED if event.server:
                self._put("server", event.server.id, event.event_id, self.servers, event.server)
            case CatalogEventKind.SERVER_DELETED if event.deleted_id:
                self._put("server", event.deleted_id, event.event_id, self.servers, None)
            case CatalogEventKind.PLAN_CHANGED if event.plan:
                self._put("plan", event.plan.id, event.event_id, self.plans, event.plan)
            case CatalogEventKind.TENANT_CHANGED if event.tenant:
                self._put("tenant", event.tenant.id, event.event_id, self.tenants, event.tenant)
            case CatalogEventKind.POLICY_CHANGED if event.policy:
                self.remember_policy(event.policy)

    def remember_policy(self, policy: SendingPolicy) -> None:
        known = self.policies.get(policy.campaign_id)
        if known is None or policy.version >= known.version:
            self.policies[policy.campaign_id] = policy
            self.generation += 1

    def forget_policy(self, campaign_id: UUID, policy: SendingPolicy | None = None) -> None:
        """Drop the campaign's cached policy, so that the next message asks the catalog again;
        given `policy`, only if that is still the one cached (not one fetched since)."""
        known = self.policies.get(campaign_id)
        if known is not None and (policy is None or known is policy):
            del self.policies[campaign_id]
            self.generation += 1

    def apply_health(self, event: ServerHealthEvent) -> None:
        """Delivery reported a server's circuit breaker open (with why) or closed again."""
        self.generation += 1
        if event.healthy:
            self.unhealthy.pop(event.server_id, None)
        else:
            self.unhealthy[event.server_id] = (
                event.reason or f"{event.consecutive_failures} connection failures"
            )

    def refusal(self, server: ServerView) -> str | None:
        """Why nothing may be sent through the server now, or None (`ServerView.refusal`, with the
        circuit delivery reported open)."""
        return server.refusal(open_circuit=self.unhealthy.get(server.id))

    def usable_server_ids(self, tenant_id: UUID) -> list[UUID]:
        """Servers the tenant may send through: its own and those its plan grants."""
        own = [s.id for s in self.servers.values() if s.tenant_id == tenant_id]
        tenant = self.tenants.get(tenant_id)
        plan = self.plans.get(tenant.plan_id) if tenant and tenant.plan_id else None
        granted = [sid for sid in plan.server_ids if sid not in own] if plan else []
        return own + granted

    def _put(self, kind: str, key: UUID, event_id: int, store: dict[UUID, Any], value: object | None) -> None:
        if not self._newest.admit((kind, key), event_id):
            return
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
