"""Fixtures shared by every tier. Integration and e2e tests get a fresh database and vhost per run."""

import os
from pathlib import Path

import pytest

# The suite runs in development mode (services may start without production secrets) and lets
# delivery connect to this machine's sinks and fakes, which listen on ephemeral loopback ports.
# The security tests build their own settings without either, to show the defences hold.
os.environ.setdefault("SENDPOOL_DEV_MODE", "1")
os.environ.setdefault("SENDPOOL_DELIVERY_EGRESS_ALLOW", "127.0.0.1/32:1024-65535")

from tests.support.infra import fresh_test_database, fresh_test_vhost
from tests.support.tls import ca_file


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that restart RabbitMQ or PostgreSQL run last, so that no other test's connections,
    processes or fixtures live through the restart they make."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_infrastructure") is not None)


@pytest.fixture(scope="session")
def database_url():
    with fresh_test_database() as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url():
    with fresh_test_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def service_env(database_url, amqp_url, tmp_path_factory) -> dict[str, str]:
    """Environment for service processes started by a test: this run's database and vhost."""
    return {
        "SENDPOOL_DATABASE_URL": database_url,
        "SENDPOOL_AMQP_URL": amqp_url,
        "SENDPOOL_TOKEN_SECRET": "test-token-secret",
        "SENDPOOL_OPERATOR_TOKEN": "test-operator-token",
        # Service processes do not inherit SENDPOOL_DEV_MODE: they need every secret, 16 characters or more.
        "SENDPOOL_VERP_SECRET": "test-verp-secret-of-this-run",
        "SENDPOOL_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret-of-this-run",
        "SENDPOOL_WEBHOOKS_SECRET_KEYS": "d2ViaG9va3MtdGVzdHMtZmVybmV0LWtleS0zMmJ5dGU=",
        # Where messages' one-click links point; a `tools.stack` stack points them at its own bounces service.
        "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL": "http://127.0.0.1:8005",
        "SENDPOOL_CATALOG_SECRET_KEYS": "c2VuZHBvb2wtdGVzdHMtZmVybmV0LWtleS0zMmJ5dGU=",
        "SENDPOOL_LOG_LEVEL": "INFO",
        # Delivery workers reach this machine's sinks and fakes (loopback, ephemeral ports), and trust
        # the test CA that signs the https fakes' certificates (tests/support/tls.py).
        "SENDPOOL_DELIVERY_EGRESS_ALLOW": os.environ["SENDPOOL_DELIVERY_EGRESS_ALLOW"],
        "SENDPOOL_DELIVERY_TLS_CA_FILE": ca_file(),
        # The bounces service fetches SNS certificates from, and confirms subscriptions at, https fakes.
        "SENDPOOL_BOUNCES_EGRESS_ALLOW": os.environ["SENDPOOL_DELIVERY_EGRESS_ALLOW"],
        "SENDPOOL_BOUNCES_TLS_CA_FILE": ca_file(),
        "SENDPOOL_BOUNCES_SNS_CERT_HOSTS": "localhost",
        # Several services (and, on a developer's machine, several test runs) share one PostgreSQL.
        "SENDPOOL_DB_POOL_SIZE": "4",
    }


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service-logs")
