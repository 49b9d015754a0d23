"""The whole pipeline as real processes: the services (two routers, two delivery workers), this
run's database and vhost, SMTP sinks. The same `Stack` as the demo, the bench and the chaos run."""

import pytest

from tests.support.stacks import isolated_stack
from tests.support.tls import ca_file

# Two routers and two delivery workers: every promise must hold with replicas running. One at a
# time, the catalog first (the router asks it for a snapshot as it starts).
ONE_AT_A_TIME = tuple(
    (label,)
    for label in (
        "catalog",
        "delivery",
        "delivery-2",
        "router",
        "router-2",
        "scheduler",
        "bounces",
        "events",
        "webhooks",
    )
)


@pytest.fixture(scope="package")
def pipeline(service_env, logs_dir):
    """Its own database and vhost: no other tier's consumer or stand-in may take its messages."""
    env = {
        **service_env,
        "SENDPOOL_DELIVERY_VENDOR": "smtp",
        "SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1",
        # Tenants' webhook endpoints are this machine's https receivers (tests/support/webhook_receiver.py).
        "SENDPOOL_WEBHOOKS_EGRESS_ALLOW": "127.0.0.1/32:1024-65535",
        "SENDPOOL_WEBHOOKS_TLS_CA_FILE": ca_file(),
        "SENDPOOL_WEBHOOKS_RETRY_BASE_SECONDS": "0.2",
        "SENDPOOL_WEBHOOKS_RETRY_MAX_SECONDS": "1",
        "SENDPOOL_WEBHOOKS_POLL_SECONDS": "0.1",
        # The routers' queue and headroom gauges follow a campaign within a second (test_observability_metrics).
        "SENDPOOL_ROUTER_QUEUE_METRICS_INTERVAL_SECONDS": "1",
    }
    with isolated_stack(
        logs_dir / "e2e", env, service_env["SENDPOOL_OPERATOR_TOKEN"], ONE_AT_A_TIME
    ) as stack:
        yield stack
