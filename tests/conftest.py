"""Fixtures shared by every tier. Integration and e2e tests get a fresh database and vhost per run."""

from pathlib import Path

import pytest

from tests.support.infra import fresh_test_database, fresh_test_vhost


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
        "SENDPOOL_CATALOG_SECRET_KEYS": "c2VuZHBvb2wtdGVzdHMtZmVybmV0LWtleS0zMmJ5dGU=",
        "SENDPOOL_LOG_LEVEL": "INFO",
        # Several services (and, on a developer's machine, several test runs) share one PostgreSQL.
        "SENDPOOL_DB_POOL_SIZE": "4",
    }


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service-logs")
