"""Hourly outcome counters against real PostgreSQL: the window's sums, counts taken back, the
pauses that restart judging, pruning, and the daily counters of earlier versions carried over."""

import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from services.bounces.domain.reputation import WindowCounts
from shared.db import Database

H = datetime(2026, 12, 6, 10, tzinfo=UTC)  # an hour bucket


@pytest.fixture(scope="module")
async def store(database_url):
    async with Database(database_url, SCHEMA, MIGRATIONS, pool_size=2, wait_seconds=0) as database:
        yield PgCounterStore(database)


async def test_the_window_sums_the_buckets_from_its_start_and_splits_off_the_hours_after_a_pause(store):
    server, other = uuid4(), uuid4()
    await store.add(
        Counter(
            {
                (server, H - timedelta(hours=30), "sent"): 1000,  # before the window
                (server, H - timedelta(hours=3), "sent"): 300,
                (server, H - timedelta(hours=3), "bounced:hard"): 40,
                (server, H - timedelta(hours=3), "bounced:soft"): 90,
                (server, H, "sent"): 200,
                (server, H, "bounced:hard"): 2,
                (server, H, "complained"): 1,
                (other, H, "sent"): 7,
            }
        )
    )

    window = (await store.window([server], H - timedelta(hours=23)))[server]
    assert window.whole == WindowCounts(sent=500, bounced=42, complained=1)
    assert window.since_pause == window.whole and window.paused_at is None

    paused_at = H - timedelta(hours=2, minutes=40)
    await store.record_pause(server, paused_at, "bounce rate 13.3 % ...")
    window = (await store.window([server, other, uuid4()], H - timedelta(hours=23)))[server]
    assert window.whole == WindowCounts(sent=500, bounced=42, complained=1), "the pool views show it all"
    assert window.since_pause == WindowCounts(sent=200, bounced=2, complained=1), (
        "the pause's hour is left out"
    )
    assert window.paused_at == paused_at

    # A pause before the window's start restarts nothing within it.
    later = await store.window([server], paused_at + timedelta(hours=1))
    assert later[server].paused_at is None and later[server].since_pause == later[server].whole


async def test_counts_taken_back_lower_the_bucket_they_were_counted_in(store):
    server = uuid4()
    await store.add(Counter({(server, H, "sent"): 100, (server, H, "bounced:hard"): 10}))
    # An operator re-classifies three hard bounces as soft.
    await store.add(Counter({(server, H, "bounced:hard"): -3, (server, H, "bounced:soft"): 3}))

    assert await store.totals(server) == {"sent": 100, "bounced:hard": 7, "bounced:soft": 3}
    assert (await store.window([server], H))[server].whole == WindowCounts(sent=100, bounced=7)
    await store.add(Counter())  # nothing to write: no statement


async def test_pruning_deletes_the_buckets_and_pauses_before_the_window(store):
    server = uuid4()
    old = datetime(2001, 1, 1, 5, tzinfo=UTC)  # far older than whatever other tests write
    await store.add(Counter({(server, old, "sent"): 5, (server, old + timedelta(hours=1), "sent"): 6}))
    await store.record_pause(server, old, "long ago")

    assert await store.prune(old + timedelta(hours=1)) >= 1

    assert await store.totals(server) == {"sent": 6}
    window = (await store.window([server], datetime(2000, 1, 1, tzinfo=UTC)))[server]
    assert window.paused_at is None, "the pause went with the window it restarted"


async def test_a_bucket_is_an_hour_start_in_utc(store):
    with pytest.raises(Exception, match="check constraint"):
        await store.add(Counter({(uuid4(), H + timedelta(minutes=5), "sent"): 1}))


async def test_the_daily_counters_of_earlier_versions_land_in_the_first_hour_of_their_day(
    database_url, tmp_path
):
    schema = f"bounces_upgrade_{uuid4().hex[:8]}"
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    shutil.copy(MIGRATIONS / "0001_initial.sql", earlier)
    server = uuid4()
    async with Database(database_url, schema, earlier, pool_size=1, wait_seconds=0) as database:
        await database.pool.execute(
            "INSERT INTO server_outcomes (server_id, day, status, count) VALUES ($1, $2, 'sent', 40), ($1, $2, 'bounced', 3)",
            server,
            date(2026, 12, 6),
        )
    try:
        async with Database(database_url, schema, MIGRATIONS, pool_size=1, wait_seconds=0) as database:
            upgraded = PgCounterStore(database)
            window = (await upgraded.window([server], datetime(2026, 12, 6, tzinfo=UTC)))[server]
            assert window.whole == WindowCounts(sent=40, bounced=3)
            rows = await database.pool.fetch("SELECT DISTINCT hour FROM server_outcome_hours")
            assert [row["hour"] for row in rows] == [datetime(2026, 12, 6, tzinfo=UTC)]
            assert await database.pool.fetchval("SELECT to_regclass('server_outcomes')") is None
    finally:
        async with Database(database_url, schema, MIGRATIONS, pool_size=1, wait_seconds=0) as database:
            await database.pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
