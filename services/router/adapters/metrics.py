"""The router's Prometheus metrics: what it decided for each message, where routed ones went, and
the servers' queues, headroom and dead letters as its last background round saw them."""

from uuid import UUID

from prometheus_client import Counter, Gauge

from services.router.app.ports import Decision, ServerLoad
from shared import tracing
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
        if tracing.ENABLED:  # the message's `router.route` span says what became of it
            tracing.annotate(
                {"sendpool.route.outcome": decision.value}
                | ({"sendpool.server_id": str(server_id)} if server_id is not None else {})
            )


SERVER_QUEUE_MESSAGES = Gauge(
    "sendpool_server_queue_messages",
    "Messages ready in the server's delivery queue (delivery.<vendor>.<server_id>), not counting those a "
    "worker holds unacknowledged; every router replica reports the same figure.",
    ["vendor", "server_id"],
    registry=REGISTRY,
)
SERVER_QUEUE_CONSUMERS = Gauge(
    "sendpool_server_queue_consumers",
    "Consumers of the server's delivery queue: delivery workers, or a router draining a server that cannot send.",
    ["vendor", "server_id"],
    registry=REGISTRY,
)
SERVER_HEADROOM = Gauge(
    "sendpool_server_headroom",
    "Sends an active server's limits still allow now, by window (second, minute, hour, day; warmup: "
    "today's warmup cap); a window the server has no limit for is absent.",
    ["server_id", "window"],
    registry=REGISTRY,
)
DEAD_LETTER_QUEUE_MESSAGES = Gauge(
    "sendpool_dead_letter_queue_messages",
    "Messages waiting in sendpool.dead for an operator (`sendpool dead-letters list`).",
    registry=REGISTRY,
)


class PrometheusFleetGauges:
    """Sets the gauges from one round, and removes the series of servers (or windows) gone since
    the last: a deleted server's series would otherwise stay for the life of the process."""

    def __init__(self) -> None:
        self._queues: set[tuple[str, str]] = set()
        self._headroom: set[tuple[str, str]] = set()

    def show(self, servers: list[ServerLoad], dead_letters: int) -> None:
        queues: set[tuple[str, str]] = set()
        headroom: set[tuple[str, str]] = set()
        for server in servers:
            key = (server.vendor, str(server.server_id))
            SERVER_QUEUE_MESSAGES.labels(*key).set(server.queue.messages)
            SERVER_QUEUE_CONSUMERS.labels(*key).set(server.queue.consumers)
            queues.add(key)
            for window, room in server.headroom.items():
                SERVER_HEADROOM.labels(str(server.server_id), window).set(room)
                headroom.add((str(server.server_id), window))
        for gone in self._queues - queues:
            SERVER_QUEUE_MESSAGES.remove(*gone)
            SERVER_QUEUE_CONSUMERS.remove(*gone)
        for gone in self._headroom - headroom:
            SERVER_HEADROOM.remove(*gone)
        self._queues, self._headroom = queues, headroom
        DEAD_LETTER_QUEUE_MESSAGES.set(dead_letters)
