"""Outcome counters against real PostgreSQL: replicas adding to the same rows at once."""

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from shared.db import Database


@pytest.fixture(scope="module")
async def database(database_url):
    async with Database(database_url, SCHEMA, MIGRATIONS, pool_size=4, wait_seconds=0) as database:
        yield database


async def test_concurrent_additions_to_the_same_counters_all_count_and_never_deadlock(database):
    store = PgCounterStore(database)
    servers = [uuid4() for _ in range(40)]
    keys = [
        (server, datetime(2026, 11, 22, 10, tzinfo=UTC), status)
        for server in servers
        for status in ("sent", "failed")
    ]

    def shuffled() -> Counter:
        order = random.sample(keys, len(keys))  # each replica meets the servers in its own order
        return Counter(dict.fromkeys(order, 1))

    for _ in range(10):
        await asyncio.gather(*(store.add(shuffled()) for _ in range(4)))

    assert await store.totals(servers[0]) == {"sent": 40, "failed": 40}
