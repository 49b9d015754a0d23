"""The attempts record against real PostgreSQL: one refused row does not fail the outcomes written
with it, and a database that cannot be reached is waited out, within a bound."""

import asyncio
import time
from dataclasses import replace
from types import SimpleNamespace
from uuid import uuid4

import asyncpg
import pytest

from services.delivery.adapters.postgres import PostgresAttempts
from services.delivery.domain.attempts import AttemptRecord, AttemptState, Claimed
from tests.support.infra import free_port, migrated_pool


@pytest.fixture(scope="module")
async def pool(database_url):
    async with migrated_pool(database_url, "delivery", 4) as pool:
        yield pool


def attempts_over(pool: asyncpg.Pool, **options) -> PostgresAttempts:
    """The store over `pool`, as over an opened `shared.db.Database` (the store reads only its pool)."""
    return PostgresAttempts(SimpleNamespace(pool=pool), **options)


async def claimed(store: PostgresAttempts, count: int) -> list[AttemptRecord]:
    claims = await asyncio.gather(*(store.claim(uuid4(), uuid4(), 1) for _ in range(count)))
    assert all(isinstance(claim, Claimed) for claim in claims)
    return [claim.record for claim in claims]


async def test_a_row_the_database_refuses_does_not_keep_the_others_of_its_group_from_their_record(pool):
    store = attempts_over(pool)
    records = [
        replace(record, state=AttemptState.SENT, reply_code=250, reply_text=f"2.0.0 Ok: queued as Q{n}")
        for n, record in enumerate(await claimed(store, 6))
    ]
    # Past the domain's cleaning (a bug, a new adapter): text PostgreSQL refuses outright.
    records[2] = replace(records[2], reply_text="Ok\x00 with NUL", vendor_message_id="Q\x00")
    records[4] = replace(records[4], reply_text="Ok \udcff not UTF-8")

    await asyncio.gather(*(store.record(record) for record in records))

    rows = {
        row["message_id"]: row
        for row in await pool.fetch(
            "SELECT message_id, state, reply_text, vendor_message_id FROM attempts WHERE message_id = ANY($1)",
            [record.message_id for record in records],
        )
    }
    assert [rows[record.message_id]["state"] for record in records] == ["sent"] * 6
    for n in (0, 1, 3, 5):
        assert rows[records[n].message_id]["reply_text"] == f"2.0.0 Ok: queued as Q{n}"
    for n in (2, 4):
        assert rows[records[n].message_id]["reply_text"].startswith(
            "(the server's reply could not be recorded"
        )
        assert rows[records[n].message_id]["vendor_message_id"] is None


async def test_maybe_delivered_is_kept_from_one_attempt_to_the_next(pool):
    store = attempts_over(pool)
    [first] = await claimed(store, 1)
    await store.record(replace(first, state=AttemptState.DEFERRED, maybe_delivered=True))

    retry = await store.claim(first.message_id, first.server_id, 2)

    assert isinstance(retry, Claimed)
    assert retry.record.maybe_delivered and retry.record.attempt == 2


async def test_a_database_that_stays_unreachable_fails_the_write_once_the_bound_has_passed():
    nowhere = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/none", min_size=0)
    store = attempts_over(nowhere, record_retry_seconds=1.0)
    record = AttemptRecord(uuid4(), uuid4(), 1, AttemptState.SENT)
    started = time.monotonic()

    with pytest.raises(OSError):
        await store.record(record)

    assert 0.5 <= time.monotonic() - started < 3, "tried again for about the bound, then gave up"
    await nowhere.close()


async def test_a_stopping_worker_stops_waiting_for_the_database():
    nowhere = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/none", min_size=0)
    store = attempts_over(nowhere, record_retry_seconds=600)
    writing = asyncio.create_task(store.record(AttemptRecord(uuid4(), uuid4(), 1, AttemptState.SENT)))
    await asyncio.sleep(0.3)
    started = time.monotonic()

    await store.close()

    with pytest.raises(OSError):
        await writing
    assert time.monotonic() - started < 1
    await nowhere.close()
