"""The router's schema in this run's database, and a vhost and database of a test's own."""

import pytest

from tests.integration.router.harness import RouterStack, router_database
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database


@pytest.fixture(scope="module")
async def database(database_url):
    async with router_database(database_url) as database:
        yield database


@pytest.fixture(scope="module")
def pool(database):
    return database.pool


@pytest.fixture
def own_vhost():
    """A virtual host of the test's own: the replicas it starts consume the shared work queues
    (router.send-requested, router.campaign-resumed), which no other test may feed."""
    url = create_vhost()
    yield url
    delete_vhost(url)


@pytest.fixture
async def own_database():
    """A database of the test's own, so that sweepers see only this test's held messages."""
    url = create_database()
    try:
        async with router_database(url) as database:
            yield database
    finally:
        drop_database(url)


@pytest.fixture
def stack(own_vhost, own_database) -> RouterStack:
    return RouterStack(own_vhost, own_database)
