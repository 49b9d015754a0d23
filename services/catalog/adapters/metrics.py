"""The catalog's Prometheus metrics."""

from prometheus_client import Counter

from shared.metrics import REGISTRY

OUTBOX_PARKED = Counter(
    "sendpool_catalog_outbox_parked_total",
    "Catalog events the outbox relay parked instead of publishing (unreadable, or too large for the "
    "broker), by kind: each is in catalog.outbox with its parked_reason.",
    ["kind"],
    registry=REGISTRY,
)


class PrometheusOutboxMetrics:
    def event_parked(self, kind: str) -> None:
        OUTBOX_PARKED.labels(kind).inc()
