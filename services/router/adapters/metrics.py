"""The router's Prometheus metrics: what it decided for each message, and where routed ones went."""

from uuid import UUID

from prometheus_client import Counter

from services.router.app.ports import Decision
from shared.metrics import REGISTRY

DECISIONS = Counter(
    "sendpool_router_decisions_total",
    "Messages through routing by outcome: routed, held (campaign stopped), waiting (every eligible "
    "server capped; sent to a delay queue), rerouted (drained from a server that cannot send), "
    "admitted_late (a message that reached its worker late, counted again as it is sent) or "
    "late_at_cap (such a message must wait: its server is at its cap now) or cancelled (its campaign "
    "was cancelled: dropped unrouted).",
    ["outcome"],
    registry=REGISTRY,
)
ROUTED = Counter(
    "sendpool_router_routed_total",
    "Messages routed, by the server chosen.",
    ["server_id"],
    registry=REGISTRY,
)


class PrometheusRoutingMetrics:
    def decided(self, decision: Decision, server_id: UUID | None = None) -> None:
        DECISIONS.labels(decision.value).inc()
        if server_id is not None:
            ROUTED.labels(str(server_id)).inc()
