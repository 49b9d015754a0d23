"""Which servers may carry a message, and the weighted pick among them. Pure: no I/O."""

import random
from dataclasses import dataclass
from functools import cached_property
from uuid import UUID

from services.router.domain.view import RoutingView
from shared.contracts import Exclusion, RoutingDecision, SendingPolicy, ServerState, ServerView

_STATE_REASONS = {
    ServerState.INACTIVE: "inactive: not tested since its connection settings last changed, or not enabled",
    ServerState.DISABLED: "disabled",
    ServerState.PAUSED: "paused",
}


@dataclass(frozen=True)
class Candidates:
    """The outcome of eligibility: weights of the servers that may send, and why the others may not."""

    mode: str
    weights: dict[UUID, float]
    excluded: list[Exclusion]

    def decision(self, capped: list[Exclusion]) -> RoutingDecision:
        """What routing says it decided: these candidates, with the servers found at their caps
        (`capped`) named among the excluded."""
        if not capped:
            return self._uncapped_decision
        return RoutingDecision(
            mode=self.mode,
            weights={str(k): v for k, v in self.weights.items()},
            excluded=[*self.excluded, *capped],
        )

    @cached_property
    def _uncapped_decision(self) -> RoutingDecision:
        # Most messages are routed without a capped server: their decision (immutable) is built
        # once for all the messages routed with these candidates, not once per recipient.
        return RoutingDecision(
            mode=self.mode,
            weights={str(k): v for k, v in self.weights.items()},
            excluded=list(self.excluded),
        )


def eligible_servers(policy: SendingPolicy, view: RoutingView) -> Candidates:
    """The policy's servers (its selection, or every server the tenant may use) that are active.

    A narrowed selection never widens: a selected server that is gone or no longer usable by
    the tenant is excluded with its reason, never replaced by one outside the selection.
    """
    usable = set(view.usable_server_ids(policy.tenant_id))
    if policy.use_all:
        wanted = {server_id: 1.0 for server_id in sorted(usable, key=str)}
        mode = "use_all"
    else:
        wanted = {item.server_id: item.weight for item in policy.selection}
        mode = "selection"

    weights: dict[UUID, float] = {}
    excluded: list[Exclusion] = []
    for server_id, weight in wanted.items():
        server = view.servers.get(server_id)
        if server is None:
            excluded.append(
                Exclusion(server_id=server_id, reason="unknown server: deleted, or not in the catalog")
            )
        elif server_id not in usable:
            excluded.append(
                Exclusion(server_id=server_id, reason="not granted to the tenant (own or plan) any more")
            )
        elif view.refusal(server) is not None:
            excluded.append(Exclusion(server_id=server_id, reason=_ineligible_because(server, view)))
        else:
            weights[server_id] = weight
    return Candidates(mode=mode, weights=weights, excluded=excluded)


def _ineligible_because(server: ServerView, view: RoutingView) -> str:
    """Why a server that cannot send is left out, in the words a `campaign_stopped` event names
    it with: its state, or why delivery reported its circuit open."""
    return _STATE_REASONS.get(server.state) or f"unhealthy: {view.unhealthy[server.id]}"


def pick_by_weight(
    weights: dict[UUID, float], rng: random.Random, avoid: frozenset[UUID] = frozenset()
) -> UUID:
    """A server at random in proportion to its weight; servers to avoid only if nothing else is left."""
    preferred = {k: w for k, w in weights.items() if k not in avoid} or weights
    servers = list(preferred)
    return rng.choices(servers, weights=[preferred[s] for s in servers], k=1)[0]


def stop_reason(candidates: Candidates) -> str:
    if not candidates.excluded:
        return "no sending server is available to the campaign's tenant"
    if candidates.mode == "selection":
        return "every server in the campaign's selection is ineligible"
    return "every server available to the tenant is ineligible"
