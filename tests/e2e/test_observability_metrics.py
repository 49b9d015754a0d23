"""Every metric the Grafana dashboard and the Prometheus alerts use is exported by a running service,
and a campaign moves the ones it must: the names come from the generated files in
deploy/observability/, so a panel or an alert on a metric no service exports fails here."""

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.api import CONTENT, tenant_of
from tests.support.metrics import total
from tests.support.observability import exposed_names, used_metric_names
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 20
PER_HOUR = 1000


def scrape_all(pipeline) -> tuple[set[str], list[Sample]]:
    """The sample names every service can expose (labelled metrics without a series yet included),
    and the samples of all of them together, as Prometheus would sum them across processes."""
    names: set[str] = set()
    samples: list[Sample] = []
    for service in pipeline.services.values():
        response = httpx.get(f"{service.url}/metrics", timeout=10)
        response.raise_for_status()
        families = list(text_string_to_metric_families(response.text))
        names |= exposed_names(families)
        samples.extend(sample for family in families for sample in family.samples)
    return names, samples


def present(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s.name == name and labels.items() <= s.labels.items()]


def test_a_campaign_moves_the_metrics_the_dashboard_and_alerts_use(pipeline):
    used = used_metric_names()
    tenant = tenant_of(pipeline, "observability")
    with SmtpSink() as sink:
        server = enabled_smtp_server(tenant, "observed", sink.port, limits={"per_hour": PER_HOUR})
        server_id = str(server.id)
        campaign = draft_campaign(tenant, recipient_addresses(RECIPIENTS), CONTENT)
        tenant.set_sending_policy(campaign.id, {server.id: 1})
        _, before = scrape_all(pipeline)
        launched_at = time.time()

        tenant.launch(campaign.id)
        wait_for_state(tenant, campaign.id, "completed", timeout_seconds=60)
        assert len(sink.messages) == RECIPIENTS

        # The routers read the server's queue and headroom every second (tests/e2e/conftest.py).
        def gauges_caught_up():
            names, samples = scrape_all(pipeline)
            headroom = present(samples, "sendpool_server_headroom", server_id=server_id, window="hour")
            queue = present(samples, "sendpool_server_queue_messages", vendor="smtp", server_id=server_id)
            spent = headroom and max(s.value for s in headroom) <= PER_HOUR - RECIPIENTS
            return (names, samples) if spent and queue else None

        names, after = eventually(gauges_caught_up, timeout_seconds=30, what="the server's gauges")

    missing = {name: sorted(where) for name, where in used.items() if name not in names}
    assert not missing, f"the dashboard or the alerts use metrics no service exports: {missing}"

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    sent = {"vendor": "smtp", "server_id": server_id, "status": "sent"}
    assert moved("sendpool_delivery_outcomes_total", **sent) == RECIPIENTS
    assert moved("sendpool_router_routed_total", server_id=server_id) == RECIPIENTS
    # Other tests' leftovers may pass through too: at least this campaign's messages.
    assert moved("sendpool_router_decisions_total", outcome="routed") >= RECIPIENTS
    assert moved("sendpool_delivery_send_seconds_count", vendor="smtp") >= RECIPIENTS
    assert moved("sendpool_delivery_send_seconds_bucket", vendor="smtp", le="+Inf") >= RECIPIENTS
    assert moved("sendpool_delivery_queue_wait_seconds_count", vendor="smtp") >= 1
    assert moved("sendpool_scheduler_statuses_total", status="sent") == RECIPIENTS
    assert moved("sendpool_scheduler_campaigns_launched_total") == 1
    assert moved("sendpool_scheduler_campaigns_completed_total") == 1
    assert moved("faststream_received_processed_messages_total") >= RECIPIENTS / 10
    # The oldest-message age: the newest batch taken from the server's queue was routed during the run.
    heads = present(after, "sendpool_delivery_queue_head_routed_timestamp_seconds", server_id=server_id)
    assert heads and launched_at - 1 <= max(s.value for s in heads) <= time.time() + 1
    queue = present(after, "sendpool_server_queue_messages", vendor="smtp", server_id=server_id)
    assert queue and all(s.value == 0 for s in queue), "the campaign completed: its server's queue is empty"
    consumers = present(after, "sendpool_server_queue_consumers", vendor="smtp", server_id=server_id)
    assert consumers and max(s.value for s in consumers) >= 1, "the delivery workers consume the queue"
    circuits = present(after, "sendpool_delivery_circuit_open", server_id=server_id)
    assert all(s.value == 0 for s in circuits), "a server that accepts everything never opens its circuit"
