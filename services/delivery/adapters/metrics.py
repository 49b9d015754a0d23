"""The delivery worker's Prometheus metrics: outcomes per server, send times, open circuits, how
long batches waited in their server's queue, and background tasks that hit errors."""

import time
from datetime import datetime
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

QUEUE_HEAD_ROUTED = Gauge(
    "sendpool_delivery_queue_head_routed_timestamp_seconds",
    "When the batch most recently taken from the server's queue was routed (unix seconds): while the "
    "queue has a backlog, time() minus this is the age of the oldest message still in it.",
    ["vendor", "server_id"],
    registry=REGISTRY,
)
QUEUE_WAIT_SECONDS = Histogram(
    "sendpool_delivery_queue_wait_seconds",
    "Time from a batch's routing to its being taken from its server's queue by a worker, by vendor.",
    ["vendor"],
    # From an idle queue's milliseconds to the hours a backlog behind a daily cap can last.
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600),
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
        self._queue_wait = QUEUE_WAIT_SECONDS.labels(vendor)

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

    def batch_taken(self, server_id: UUID, routed_at: datetime) -> None:
        routed = routed_at.timestamp()
        QUEUE_HEAD_ROUTED.labels(self._vendor, str(server_id)).set(routed)
        # Router and worker clocks may differ a little: a wait is never negative.
        self._queue_wait.observe(max(0.0, time.time() - routed))

    def circuit_opened(self, server_id: UUID) -> None:
        CIRCUIT_OPEN.labels(self._vendor, str(server_id)).set(1)

    def circuit_closed(self, server_id: UUID) -> None:
        CIRCUIT_OPEN.labels(self._vendor, str(server_id)).set(0)

    def circuit_forgotten(self, server_id: UUID) -> None:
        # A deleted server's series would otherwise stay for the life of the process.
        CIRCUIT_OPEN.remove(self._vendor, str(server_id))
        QUEUE_HEAD_ROUTED.remove(self._vendor, str(server_id))

    def background_task_failed(self, task: str) -> None:
        BACKGROUND_TASK_FAILURES.labels(task).inc()
