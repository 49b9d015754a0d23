"""The scheduler's gauges of the running campaigns as a whole (real PostgreSQL): how many run, their
messages not final yet, and those stalled, from what the progress ticks recorded on their runs."""

import json
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest

from services.scheduler.adapters.metrics import PrometheusSchedulerMetrics
from services.scheduler.adapters.postgres import MIGRATIONS, SCHEMA, PostgresStore
from services.scheduler.app.progress import ProgressReporter
from services.scheduler.app.running import RunningCampaigns
from services.scheduler.domain.status import rank
from shared.db import Database
from shared.metrics import REGISTRY
from tests.support.infra import create_database, drop_database

STALLED_AFTER_SECONDS = 900.0


class NoPublisher:
    async def publish_events(self, events) -> None:
        pass


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    """A database of the test's own: the gauges count every running campaign in it."""
    url = create_database("sendpool_scheduler_gauges")
    try:
        async with Database(url, SCHEMA, MIGRATIONS, pool_size=3, wait_seconds=0.0) as database:
            yield database
    finally:
        drop_database(url)


async def running_campaign(database: Database, statuses: list[str], total: int) -> UUID:
    """A running campaign whose run has `total` recipients and these messages so far."""
    pool = database.pool
    list_id = await pool.fetchval(
        "INSERT INTO lists (tenant_id, name) VALUES ($1, 'l') RETURNING id", uuid4()
    )
    campaign_id = await pool.fetchval(
        "INSERT INTO campaigns (tenant_id, name, list_id, content, state) VALUES ($1, 'c', $2, $3, 'running') "
        "RETURNING id",
        uuid4(),
        list_id,
        json.dumps({}),
    )
    run_id = await pool.fetchval(
        "INSERT INTO runs (campaign_id, state, total) VALUES ($1, 'expanded', $2) RETURNING id",
        campaign_id,
        total,
    )
    for status in statuses:
        await pool.execute(
            "INSERT INTO messages (message_id, run_id, campaign_id, recipient, status, status_rank) "
            "VALUES ($1, $2, $3, 'r@x.example', $4, $5)",
            uuid4(),
            run_id,
            campaign_id,
            status,
            rank(status),
        )
    return run_id


def gauges() -> tuple[float | None, ...]:
    return tuple(
        REGISTRY.get_sample_value(f"sendpool_scheduler_{name}")
        for name in ("running_campaigns", "pending_messages", "stalled_campaigns")
    )


async def test_running_pending_and_stalled_campaigns(database):
    store = PostgresStore(database)
    report = RunningCampaigns(
        store, PrometheusSchedulerMetrics(), stalled_after_seconds=STALLED_AFTER_SECONDS
    )
    ticks = ProgressReporter(store, NoPublisher(), every_seconds=0.001)
    moving = await running_campaign(database, ["sent", "sent", "routed"], total=5)
    quiet = await running_campaign(database, ["sent", "deferred"], total=2)
    await database.pool.execute(
        "INSERT INTO campaigns (tenant_id, name, list_id, content, state) "
        "SELECT tenant_id, 'draft', list_id, content, 'draft' FROM campaigns LIMIT 1"
    )

    await report.report()
    assert gauges() == (2, 7, 0), "before any tick every message is pending, and nothing is stalled yet"

    await ticks.tick()
    await report.report()
    assert gauges() == (2, 4, 0), "5 - 2 sent, and 2 - 1 sent"

    # Nothing heard of either for longer than the threshold, as the ticks saw it.
    await database.pool.execute(
        "UPDATE runs SET progress_moved_at = now() - make_interval(secs => $1)", STALLED_AFTER_SECONDS + 60
    )
    await ticks.tick()  # the same counts: still not moving
    await report.report()
    assert gauges() == (2, 4, 2)

    await database.pool.execute(
        "UPDATE messages SET status = 'sent', status_rank = $2 WHERE run_id = $1 AND status = 'routed'",
        moving,
        rank("sent"),
    )
    await database.pool.execute(
        "UPDATE messages SET status = 'routed', status_rank = $2 WHERE run_id = $1 AND status = 'deferred'",
        quiet,
        rank("routed"),
    )
    await ticks.tick()
    await report.report()
    assert gauges() == (2, 3, 0), "a status moved in each (one message became final)"
