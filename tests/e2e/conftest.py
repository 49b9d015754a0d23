"""The whole pipeline as real processes: the services (two routers, two delivery workers), this
run's database and vhost, SMTP sinks. The same `Stack` as the demo, the bench and the chaos run."""

import httpx
import pytest

from tests.support.infra import fresh_test_database, fresh_test_vhost
from tools.stack.run import Stack

# Two routers and two delivery workers: every promise must hold with replicas running. One at a
# time, the catalog first (the router asks it for a snapshot as it starts).
ONE_AT_A_TIME = tuple(
    (label,) for label in ("catalog", "delivery", "delivery-2", "router", "router-2", "scheduler", "bounces")
)


@pytest.fixture(scope="package")
def pipeline(service_env, logs_dir):
    """Its own database and vhost: no other tier's consumer or stand-in may take its messages."""
    with (
        fresh_test_database() as database_url,
        fresh_test_vhost() as amqp_url,
        httpx.Client(timeout=60) as http,
    ):
        env = {
            **service_env,
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_DELIVERY_VENDOR": "smtp",
            "SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1",
        }
        stack = Stack(logs_dir / "e2e", env, service_env["SENDPOOL_OPERATOR_TOKEN"], http, ONE_AT_A_TIME)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop(timeout=40)
