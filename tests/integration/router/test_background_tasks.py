"""The router's background chores survive their failures: a round that fails is logged, counted
in `sendpool_background_task_failures_total{task}` and retried (real PostgreSQL)."""

import asyncio
from datetime import UTC, datetime, timedelta

from services.router.adapters.capacity_store import PgCapacityStore
from services.router.adapters.held_store import PgHeldMessages
from services.router.app.capacity import CapacityLedger
from services.router.app.routing import Router
from services.router.bootstrap import start_background
from services.router.domain.view import RoutingView
from services.router.settings import RouterSettings
from shared.background import BackgroundTasks
from shared.metrics import REGISTRY
from tests.integration.router.doubles import CountingMetrics, Unused
from tests.integration.router.harness import eventually


class FailsOnce(PgCapacityStore):
    """The database goes away during the first clean-up round."""

    def __init__(self, database) -> None:
        super().__init__(database)
        self.rounds = 0

    async def forget_before(self, cutoff: datetime) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise ConnectionRefusedError("PostgreSQL is restarting")
        return await super().forget_before(cutoff)


def failures(task: str) -> float:
    return REGISTRY.get_sample_value("sendpool_background_task_failures_total", {"task": task}) or 0.0


async def test_a_capacity_clean_up_that_fails_is_retried_and_counted(own_database):
    """The clean-up used to be a bare task whose loop ended at its first database error, and
    the counters then grew for ever without a word."""
    old = datetime.now(UTC) - timedelta(days=3)
    await own_database.pool.execute(
        "INSERT INTO capacity (bucket, kind, window_start, used) VALUES ('server:old', 'day', $1, 5)", old
    )
    store = FailsOnce(own_database)
    router = Router(
        view=RoutingView(),
        catalog=Unused(),
        outbound=Unused(),
        held=PgHeldMessages(own_database),
        capacity=CapacityLedger(store),
        metrics=CountingMetrics(),
    )
    failed_before = failures("router-capacity-cleanup")
    tasks = BackgroundTasks()
    start_background(tasks, router, store, RouterSettings(capacity_cleanup_seconds=0.1))
    try:

        async def cleaned() -> bool:
            return not await own_database.pool.fetchval(
                "SELECT count(*) FROM capacity WHERE bucket = 'server:old'"
            )

        await eventually(cleaned, timeout=10, what="the old counters deleted by a later round")
        await asyncio.sleep(0.3)
    finally:
        await tasks.stop()

    assert store.rounds >= 3, "it goes on after the failure, every round"
    assert failures("router-capacity-cleanup") == failed_before + 1
