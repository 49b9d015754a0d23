"""Status folding and expansion write the same message rows at once; they must lock them in one
order whatever plan PostgreSQL picks, or they deadlock (CI saw it: the expansion stalled and a
status batch was retried)."""

import asyncio
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.scheduler.adapters.postgres import (
    MIGRATIONS,
    RECORD_EXPANDED_MESSAGES,
    SCHEMA,
    PostgresRepository,
    PostgresStore,
)
from services.scheduler.domain.campaign import RunState
from services.scheduler.domain.recipients import ListSnapshot
from services.scheduler.domain.status import QUEUED, rank
from shared.contracts import MessageContent, MessageStatus, SendRequested
from shared.db import Database

MESSAGES = 300
ROUNDS = 15


@pytest.fixture(scope="module")
async def store(database_url):
    async with Database(database_url, SCHEMA, MIGRATIONS, pool_size=4, wait_seconds=0) as database:
        yield PostgresStore(database)


async def test_status_batches_and_expansion_batches_never_deadlock(store):
    tenant, content = uuid4(), MessageContent(from_address="news@shop.example", subject="Hello")
    async with store.transaction() as repo:
        recipients = await repo.create_list(tenant, "locks")
        campaign = await repo.create_campaign(tenant, "locks", recipients.id, content)
        # Many runs, so that the planner hashes the (smaller) batch of events rather than the runs:
        # the join then hands rows to the insert in no particular order.
        runs = [
            await repo.create_run(campaign.id, RunState.EXPANDING, ListSnapshot(1, 1)) for _ in range(300)
        ]
        await repo._db.execute("ANALYZE runs")
    run = runs[0]
    deadlocks = 0
    for _ in range(ROUNDS):
        ids = sorted(uuid4() for _ in range(MESSAGES))
        requests = [request_of(message_id, tenant, campaign.id, run.id, content) for message_id in ids]
        events = [request.status_event(MessageStatus.ROUTED) for request in reversed(requests)]

        results = await asyncio.gather(
            fold(store, events),
            expand(store, run.id, campaign.id, requests),
            fold(store, events),
            expand(store, run.id, campaign.id, requests),
            return_exceptions=True,
        )
        deadlocks += sum(isinstance(r, asyncpg.DeadlockDetectedError) for r in results)
        assert not [
            r
            for r in results
            if isinstance(r, Exception) and not isinstance(r, asyncpg.DeadlockDetectedError)
        ]

    assert deadlocks == 0


def request_of(message_id: UUID, tenant: UUID, campaign: UUID, run: UUID, content) -> SendRequested:
    return SendRequested(
        message_id=message_id,
        tenant_id=tenant,
        campaign_id=campaign,
        run_id=run,
        recipient=f"{message_id}@inbox.example",
        content=content,
    )


async def fold(store: PostgresStore, events) -> None:
    async with store.transaction() as repo:
        await repo.record_statuses(events)


async def expand(store: PostgresStore, run_id: UUID, campaign_id: UUID, requests) -> None:
    async with store.transaction() as repo:
        await expansion_insert(repo, run_id, campaign_id, requests)


async def expansion_insert(repo: PostgresRepository, run_id: UUID, campaign_id: UUID, requests) -> None:
    """What `record_expansion` writes to messages (its cursor step aside), in its own order."""
    await repo._db.execute(
        RECORD_EXPANDED_MESSAGES,
        run_id,
        campaign_id,
        [r.message_id for r in requests],
        [r.recipient for r in requests],
        QUEUED,
        rank(QUEUED),
        MessageStatus.SUPPRESSED.value,
        rank(MessageStatus.SUPPRESSED),
        [None] * len(requests),  # nobody suppressed
    )
