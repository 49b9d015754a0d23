"""The shared counters against real PostgreSQL: two ledgers (two replicas) racing for one cap."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.app.capacity import CapacityLedger
from services.router.domain.limits import Bucket, windows_for
from shared.contracts import SendingLimits
from shared.db import create_pool, migrate

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "router" / "migrations"


@pytest.fixture(scope="module")
async def pools(database_url):
    await asyncio.to_thread(migrate, database_url, "router", MIGRATIONS)
    pools = [await create_pool(database_url, "router", 5) for _ in range(2)]
    yield pools
    for pool in pools:
        await pool.close()


async def test_two_replicas_racing_never_exceed_a_cap(pools):
    now = datetime.now(UTC)
    bucket = Bucket(
        "server:race", windows_for(SendingLimits(per_minute=50, per_day=70), now), "server limits"
    )
    ledgers = [CapacityLedger(PgCapacityStore(pool)) for pool in pools]
    verdicts = await asyncio.gather(*(ledgers[i % 2].take(bucket, now) for i in range(300)))
    assert sum(v.ok for v in verdicts) == 50
    assert {v.until for v in verdicts if not v.ok} == {bucket.windows[0].end}

    remaining = await PgCapacityStore(pools[0]).remaining(bucket)
    assert remaining == {"minute": 0, "day": 20}


async def test_unspent_sends_go_back_to_the_day(pools):
    now = datetime.now(UTC)
    store = PgCapacityStore(pools[0])
    ledger = CapacityLedger(store)
    limits = SendingLimits(per_minute=100, per_day=1000)
    bucket = Bucket("server:giveback", windows_for(limits, now), "")
    assert (await ledger.take(bucket, now)).ok
    assert (await store.remaining(bucket))["day"] == 990  # a batch of 10 claimed, 1 spent
    await ledger.release_all()
    assert (await store.remaining(bucket))["day"] == 999

    assert await store.forget_before(now + timedelta(days=2)) >= 2
