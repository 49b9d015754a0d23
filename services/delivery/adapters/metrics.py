"""The delivery worker's Prometheus metrics: outcomes per server, send times, open circuits, and
background tasks that hit errors."""

from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

from shared.background import BACKGROUND_FAILURES as BACKGROUND_TASK_FAILURES
from shared.contracts import MessageStatus
from shared.metrics import REGISTRY

OUTCOMES = Counter(
    "sendpool_delivery_outcomes_total",
    "Attempts whose outcome was recorded, by vendor, server and status (sent, deferred, failed, unknown).",
    ["vendor", "server_id", "status"],
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "sendpool_delivery_send_seconds",
    "Time one message took to hand to its server (an SMTP transaction or an API call), by vendor.",
    ["vendor"],
    # Up to the default SMTP time-out (60 s): a slow relay should show, not vanish into +Inf.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
CIRCUIT_OPEN = Gauge(
    "sendpool_delivery_circuit_open",
    "1 while a server's circuit breaker is open in this worker (it neither sends through it nor consumes "
    "its queue), 0 once closed again.",
    ["vendor", "server_id"],
    registry=REGISTRY,
)


class PrometheusDeliveryMetrics:
    """What `DeliverMessage` and `ServerHealth` report, as Prometheus metrics.

    The per-recipient series (outcomes, send times) are looked up once per label set and kept:
    `labels()` takes a lock and formats the labels on every call, once per recipient otherwise."""

    def __init__(self, vendor: str) -> None:
        self._vendor = vendor
        self._send_seconds: dict[str, Histogram] = {}
        self._outcomes: dict[tuple[str, UUID, MessageStatus], Counter] = {}

    def send_took(self, vendor: str, seconds: float) -> None:
        series = self._send_seconds.get(vendor)
        if series is None:
            series = self._send_seconds[vendor] = SEND_SECONDS.labels(vendor)
        series.observe(seconds)

    def concluded(self, vendor: str, server_id: UUID, status: MessageStatus) -> None:
        key = (vendor, server_id, status)
        series = self._outcomes.get(key)
        if series is None:
            series = self._outcomes[key] = OUTCOMES.labels(vendor, str(server_id), status.value)
        series.inc()

    def circuit_opened(self, server_id: UUID) -> None:
        CIRCUIT_OPEN.labels(self._vendor, str(server_id)).set(1)

    def circuit_closed(self, server_id: UUID) -> None:
        CIRCUIT_OPEN.labels(self._vendor, str(server_id)).set(0)

    def circuit_forgotten(self, server_id: UUID) -> None:
        # A deleted server's series would otherwise stay for the life of the process.
        CIRCUIT_OPEN.remove(self._vendor, str(server_id))

    def background_task_failed(self, task: str) -> None:
        BACKGROUND_TASK_FAILURES.labels(task).inc()
