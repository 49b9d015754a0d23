"""The router's schema in this run's database."""

import pytest

from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database, migrated_pool


@pytest.fixture(scope="module")
async def pool(database_url):
    async with migrated_pool(database_url, "router") as pool:
        yield pool


@pytest.fixture
def own_vhost():
    """A virtual host of the test's own: the replicas it starts consume the shared work queues
    (router.send-requested, router.campaign-resumed), which no other test may feed."""
    url = create_vhost()
    yield url
    delete_vhost(url)


@pytest.fixture
async def own_pool():
    """A database of the test's own, so that sweepers see only this test's held messages."""
    url = create_database()
    try:
        async with migrated_pool(url, "router") as pool:
            yield pool
    finally:
        drop_database(url)
