"""The scheduler's Prometheus metrics: campaigns launched and completed, status events folded, stale messages published again."""

from collections.abc import Mapping

from prometheus_client import Counter

from shared.metrics import REGISTRY

LAUNCHED = Counter(
    "sendpool_scheduler_campaigns_launched_total", "Campaigns launched (one run each).", registry=REGISTRY
)
COMPLETED = Counter(
    "sendpool_scheduler_campaigns_completed_total",
    "Campaign runs completed: every message final (sent, failed or unknown).",
    registry=REGISTRY,
)
STATUSES = Counter(
    "sendpool_scheduler_statuses_total",
    "Status events folded into message states, by status (redelivered events count again).",
    ["status"],
    registry=REGISTRY,
)

STALE_RESENT = Counter(
    "sendpool_scheduler_stale_messages_resent_total",
    "Messages that made no progress for too long and were published again (same message id).",
    registry=REGISTRY,
)


class PrometheusSchedulerMetrics:
    def campaign_launched(self) -> None:
        LAUNCHED.inc()

    def campaign_completed(self) -> None:
        COMPLETED.inc()

    def statuses_folded(self, per_status: Mapping[str, int]) -> None:
        for status, count in per_status.items():
            STATUSES.labels(status).inc(count)

    def stale_messages_resent(self, count: int) -> None:
        STALE_RESENT.inc(count)
