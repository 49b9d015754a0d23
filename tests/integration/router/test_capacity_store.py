"""The shared counters against real PostgreSQL: two ledgers (two replicas) racing for one cap."""

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.app.capacity import CapacityLedger
from services.router.domain.limits import Bucket, windows_for
from shared.contracts import SendingLimits
from tests.integration.router.harness import router_database


@pytest.fixture(scope="module")
async def replicas(database_url):
    """The databases of two router replicas: a pool each."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(router_database(database_url)) for _ in range(2)]


async def test_two_replicas_racing_never_exceed_a_cap(replicas):
    now = datetime.now(UTC)
    bucket = Bucket(
        "server:race", windows_for(SendingLimits(per_minute=50, per_day=70), now), "server limits"
    )
    ledgers = [CapacityLedger(PgCapacityStore(replica)) for replica in replicas]
    verdicts = await asyncio.gather(*(ledgers[i % 2].take(bucket, now) for i in range(300)))
    assert sum(v.ok for v in verdicts) == 50
    assert {v.until for v in verdicts if not v.ok} == {bucket.windows[0].all_counted_free_at}

    remaining = await PgCapacityStore(replicas[0]).remaining(bucket)
    assert remaining == {"minute": 0, "day": 20}


async def test_unspent_sends_go_back_to_the_day(replicas):
    now = datetime.now(UTC)
    store = PgCapacityStore(replicas[0])
    ledger = CapacityLedger(store)
    limits = SendingLimits(per_minute=100, per_day=1000)
    bucket = Bucket("server:giveback", windows_for(limits, now), "")
    assert (await ledger.take(bucket, now)).ok
    assert (await store.remaining(bucket))["day"] == 990  # a batch of 10 claimed, 1 spent
    await ledger.release_all()
    assert (await store.remaining(bucket))["day"] == 999

    assert await store.forget_before(now + timedelta(days=2)) >= 2


async def test_a_minute_cap_counts_the_last_60_seconds_across_replicas(replicas):
    """50 taken at 12:00:59 leave nothing at 12:01:00, nor at 12:01:59; at 12:02:00 all is free."""
    late = datetime(2026, 11, 22, 12, 0, 59, tzinfo=UTC)
    stores = [PgCapacityStore(replica) for replica in replicas]

    def bucket(now: datetime) -> Bucket:
        return Bucket("server:rolling", windows_for(SendingLimits(per_minute=50), now), "server limits")

    assert await stores[0].claim(bucket(late), 30) == (30, None)
    assert (await stores[1].claim(bucket(late), 30))[0] == 20
    for second, other in ((1, 0), (60, 1)):
        now = late + timedelta(seconds=second)
        granted, until = await stores[other].claim(bucket(now), 5)
        assert (granted, until) == (0, bucket(now).windows[0].all_counted_free_at), now
        assert await stores[other].remaining(bucket(now)) == {"minute": 0}

    a_minute_after = late + timedelta(seconds=61)
    assert await stores[0].remaining(bucket(a_minute_after)) == {"minute": 50}
    assert await stores[1].claim(bucket(a_minute_after), 50) == (50, None)
