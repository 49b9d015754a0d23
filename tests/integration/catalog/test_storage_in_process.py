"""The catalog's outbox driven in-process, each test in a schema of its own: several relays, each event
published once; published events pruned after their retention."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar
from uuid import uuid4

import pytest

from services.catalog.adapters.postgres import PostgresCatalogStore, PostgresOutbox
from services.catalog.app.outbox_relay import OutboxRelay
from services.catalog.bootstrap import MIGRATIONS
from shared.contracts import CatalogEvent, CatalogEventKind, TenantView
from shared.db import Database
from tests.integration.catalog.support import eventually

T = TypeVar("T")


@pytest.fixture
async def database(database_url):
    database = Database(
        database_url, f"catalog_scratch_{uuid4().hex[:8]}", MIGRATIONS, pool_size=10, wait_seconds=0
    )
    async with database:
        yield database


@pytest.fixture
def pool(database):
    return database.pool


class RecordingPublisher:
    def __init__(self, name: str, published: list[tuple[str, int]]) -> None:
        self._name = name
        self._published = published

    async def publish(self, event: CatalogEvent) -> None:
        await asyncio.sleep(0.001)  # let the other replicas run in between
        self._published.append((self._name, event.event_id))


async def test_several_relays_publish_each_event_once_in_order(database, pool):
    store = PostgresCatalogStore(database)
    published: list[tuple[str, int]] = []
    outboxes = [PostgresOutbox(database) for _ in range(3)]
    relays = [
        OutboxRelay(outbox, RecordingPublisher(f"replica-{n}", published), poll_seconds=0.05, batch_size=5)
        for n, outbox in enumerate(outboxes)
    ]
    for relay in relays:
        relay.start()

    async def record(n: int) -> int:
        async with store.transaction() as tx:
            return await tx.record_event(
                CatalogEventKind.TENANT_CHANGED, tenant=TenantView(id=uuid4(), name=f"t{n}")
            )

    try:
        recorded = await asyncio.gather(*(record(n) for n in range(60)))
        await eventually(lambda: len(published) >= len(recorded))
        await asyncio.sleep(0.2)  # a duplicate would show up now
    finally:
        for relay in relays:
            await relay.stop()
        for outbox in outboxes:
            await outbox.close()

    assert [event_id for _, event_id in published] == sorted(recorded)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


class CountingSource:
    """The outbox, counting the batches pruned through it."""

    def __init__(self, outbox: PostgresOutbox) -> None:
        self._outbox = outbox
        self.prunes = 0

    def pending(self, limit: int):
        return self._outbox.pending(limit)

    async def wait_for_new(self, timeout: float) -> None:
        await self._outbox.wait_for_new(timeout)

    async def prune(self, older_than: timedelta, limit: int) -> int:
        self.prunes += 1
        return await self._outbox.prune(older_than, limit)


async def record_events(store: PostgresCatalogStore, count: int) -> list[int]:
    async with store.transaction() as tx:
        return [
            await tx.record_event(CatalogEventKind.TENANT_CHANGED, tenant=TenantView(id=uuid4(), name="t"))
            for _ in range(count)
        ]


async def age_published_events(pool, days: int) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE outbox SET published_at = published_at - make_interval(days => $1) "
            "WHERE published_at IS NOT NULL",
            days,
        )


async def outbox_ids(pool) -> list[int]:
    async with pool.acquire() as conn:
        return [row["id"] for row in await conn.fetch("SELECT id FROM outbox ORDER BY id")]


async def last_event_id(store: PostgresCatalogStore) -> int:
    async with store.consistent_read() as tx:
        return await tx.last_event_id()


async def test_old_published_events_are_pruned_in_batches_but_the_newest_stays(database, pool):
    store = PostgresCatalogStore(database)
    outbox = PostgresOutbox(database)
    source = CountingSource(outbox)
    relay = OutboxRelay(
        source, RecordingPublisher("relay", []), retention=timedelta(days=7), prune_batch_size=3
    )
    try:
        old = await record_events(store, 7)
        await publish_all(relay, pool)
        await age_published_events(pool, days=8)

        assert await relay.prune_published() == 6
        assert source.prunes == 3, "batches of 3, 3, then none left"
        assert await outbox_ids(pool) == [old[-1]], "the newest published event stays, however old"
        assert await last_event_id(store) == old[-1]

        unpublished = await record_events(store, 2)
        assert await relay.prune_published() == 0, "unpublished events are never pruned"
        assert await outbox_ids(pool) == [old[-1], *unpublished]

        await publish_all(relay, pool)
        assert await relay.prune_published() == 1
        assert await outbox_ids(pool) == unpublished, "published within the retention: kept"
        assert await last_event_id(store) == unpublished[-1]
    finally:
        await outbox.close()


async def test_the_running_relay_prunes_on_its_own(database, pool):
    store = PostgresCatalogStore(database)
    outbox = PostgresOutbox(database)
    published: list[tuple[str, int]] = []
    relay = OutboxRelay(
        outbox,
        RecordingPublisher("relay", published),
        poll_seconds=0.05,
        retention=timedelta(hours=1),
        prune_every_seconds=0.05,
    )
    recorded = await record_events(store, 5)
    relay.start()
    try:
        await until(lambda: unpublished_count(pool), 0)
        await age_published_events(pool, days=1)

        assert await until(lambda: outbox_ids(pool), [recorded[-1]]) == [recorded[-1]]
    finally:
        await relay.stop()
        await outbox.close()


async def publish_all(relay: OutboxRelay, pool) -> None:
    """Publish every pending event, waiting for the catalog process of this run if it holds the relay
    lock (the lock is the database's, whatever the schema)."""

    async def unpublished_after_a_round() -> int:
        await relay.publish_pending()
        return await unpublished_count(pool)

    assert await until(unpublished_after_a_round, 0) == 0


async def unpublished_count(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def until(read: Callable[[], Awaitable[T]], wanted: T, timeout: float = 5.0) -> T:
    """What `read` answers once it answers `wanted`, or when `timeout` seconds have passed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await read()
        if found == wanted or asyncio.get_running_loop().time() >= deadline:
            return found
        await asyncio.sleep(0.05)
