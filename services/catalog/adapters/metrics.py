"""The catalog's Prometheus metrics: parked outbox events, and the servers' states and pauses."""

from collections import Counter as Tally
from collections.abc import Iterable, Sequence

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.catalog.domain.fleet_status import ServerStatus, pause_cause, shown_reason
from shared.contracts import ServerState
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


class FleetStatusCollector(Collector):
    """`sendpool_catalog_servers`, `_server_paused` and `_server_pause_info`, made at each scrape from
    the statuses the last background round read (`app.fleet_status`): a scrape never queries the
    database, and a deleted server's series go with the round that no longer finds it. Nothing is
    reported before the first round."""

    def __init__(self) -> None:
        self.statuses: Sequence[ServerStatus] | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families([])

    def collect(self) -> Iterable[GaugeMetricFamily]:
        statuses = self.statuses  # one round's, whole: a new round replaces it in one assignment
        return [] if statuses is None else self._families(statuses)

    @staticmethod
    def _families(statuses: Sequence[ServerStatus]) -> list[GaugeMetricFamily]:
        servers = GaugeMetricFamily(
            "sendpool_catalog_servers",
            "Servers in the catalog by vendor and state (active, paused, disabled, inactive: not tested "
            "or not enabled yet); every catalog replica reports the same figures.",
            labels=["vendor", "state"],
        )
        paused = GaugeMetricFamily(
            "sendpool_catalog_server_paused",
            "1 for each paused server, by cause: bounce_rate or complaint_rate (the bounces service "
            "paused it past its limit), operator (a sanction), other (its owner, another service).",
            labels=["server_id", "vendor", "cause"],
        )
        pause_info = GaugeMetricFamily(
            "sendpool_catalog_server_pause_info",
            "1 for each paused server, with the reason of its pause (its first 120 characters).",
            labels=["server_id", "reason"],
        )
        per_state = Tally((status.vendor, status.state) for status in statuses)
        for vendor in sorted({status.vendor for status in statuses}):
            for state in ServerState:  # zeros too: "no paused server" is a value, not a missing series
                servers.add_metric([vendor, state.value], per_state[(vendor, state)])
        for status in statuses:
            if status.state is ServerState.PAUSED:
                server_id = str(status.id)
                paused.add_metric(
                    [server_id, status.vendor, pause_cause(status.paused_by, status.pause_reason)], 1
                )
                pause_info.add_metric([server_id, shown_reason(status.pause_reason)], 1)
        return [servers, paused, pause_info]


FLEET_STATUS = FleetStatusCollector()
REGISTRY.register(FLEET_STATUS)


class PrometheusFleetStatus:
    def show(self, statuses: Sequence[ServerStatus]) -> None:
        FLEET_STATUS.statuses = list(statuses)
