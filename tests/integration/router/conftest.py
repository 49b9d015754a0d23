"""The router's schema in this run's database."""

import pytest

from tests.support.infra import migrated_pool


@pytest.fixture(scope="module")
async def pool(database_url):
    async with migrated_pool(database_url, "router") as pool:
        yield pool
