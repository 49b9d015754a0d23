"""The scheduler's Prometheus metrics: campaigns launched and completed, status events folded, stale
messages published again, and the running campaigns as a whole."""

from collections.abc import Mapping

from prometheus_client import Counter, Gauge

from services.scheduler.app.ports import RunningFigures
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

RUNNING_CAMPAIGNS = Gauge(
    "sendpool_scheduler_running_campaigns",
    "Campaigns running now (every scheduler replica reports the same figure).",
    registry=REGISTRY,
)
PENDING_MESSAGES = Gauge(
    "sendpool_scheduler_pending_messages",
    "Messages of running campaigns not final yet (those still to be expanded included), as the last "
    "progress tick of each campaign counted them.",
    registry=REGISTRY,
)
STALLED_CAMPAIGNS = Gauge(
    "sendpool_scheduler_stalled_campaigns",
    "Running campaigns with pending messages whose counts per state have not changed for "
    "SENDPOOL_SCHEDULER_STALLED_AFTER_SECONDS.",
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

    def running(self, figures: RunningFigures) -> None:
        RUNNING_CAMPAIGNS.set(figures.campaigns)
        PENDING_MESSAGES.set(figures.pending_messages)
        STALLED_CAMPAIGNS.set(figures.stalled)
