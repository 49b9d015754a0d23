"""The whole pipeline as real processes: five services, this run's database and vhost, SMTP sinks."""

import os
from dataclasses import dataclass

import httpx
import pytest

from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for  # noqa: F401 - re-exported for the e2e tests

# Two routers and two delivery workers: every promise must hold with replicas running.
START_ORDER = (
    ("catalog", "catalog"),
    ("delivery", "delivery"),
    ("delivery-2", "delivery"),
    ("router", "router"),
    ("router-2", "router"),
    ("scheduler", "scheduler"),
    ("bounces", "bounces"),
)


@dataclass
class Pipeline:
    services: dict[str, ServiceProcess]
    operator: httpx.Client
    env: dict[str, str]

    @property
    def catalog_url(self) -> str:
        return self.services["catalog"].url

    @property
    def scheduler_url(self) -> str:
        return self.services["scheduler"].url


@pytest.fixture(scope="package")
def pipeline(service_env, logs_dir):
    """Its own database and vhost: no other tier's consumer or stand-in may take its messages."""
    database_url, amqp_url = create_database(), create_vhost()
    e2e_logs = logs_dir / "e2e"
    e2e_logs.mkdir(exist_ok=True)
    services: dict[str, ServiceProcess] = {}
    env = {
        **service_env,
        "SENDPOOL_DATABASE_URL": database_url,
        "SENDPOOL_AMQP_URL": amqp_url,
        "SENDPOOL_VENDOR": "smtp",
        "SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1",
    }
    try:
        for label, service in START_ORDER:
            # Kept before it starts, so that one failing to start is stopped with the others.
            services[label] = ServiceProcess(service, free_port(), env, e2e_logs / f"{label}.log")
            services[label].start()
        operator = httpx.Client(
            base_url=services["catalog"].url,
            headers={"Authorization": f"Bearer {service_env['SENDPOOL_OPERATOR_TOKEN']}"},
            timeout=60,
        )
        yield Pipeline(services, operator, env)
    finally:
        for process in reversed(services.values()):
            process.stop()
        if not os.environ.get("SENDPOOL_TEST_KEEP"):
            drop_database(database_url)
            delete_vhost(amqp_url)
