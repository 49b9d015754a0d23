"""Closing a run once every message it published has reached a final state."""

from collections.abc import Iterable
from uuid import UUID

import structlog

from services.scheduler.app.ports import SchedulerMetrics, Store
from services.scheduler.app.progress import read_progress
from shared.contracts import CampaignEvent, CampaignEventKind

log = structlog.get_logger("scheduler.completion")


class RunCompletion:
    def __init__(self, store: Store, metrics: SchedulerMetrics) -> None:
        self._store = store
        self._metrics = metrics

    async def check(self, run_ids: Iterable[UUID]) -> None:
        """Completes those of `run_ids` that are fully expanded with every message final.

        Callers check after their own write has committed, so whichever write made a run's
        last message final sees all the others. `campaign_completed` is recorded in the outbox
        with the completion, so it is published (at least once) whatever happens to the broker.
        """
        run_ids = sorted(set(run_ids))
        if not run_ids:
            return
        async with self._store.transaction() as repo:
            completed_runs = await repo.complete_runs(run_ids)
            # Each run's final progress goes just before its `campaign_completed`, through the outbox
            # with it: unlike the periodic ones (`ProgressReporter`), the last figures are never lost.
            final_progress: list[CampaignEvent] = []
            for completed in completed_runs:
                run = await repo.latest_run(completed.campaign_id)
                if run is not None:
                    final_progress.append(
                        CampaignEvent(
                            kind=CampaignEventKind.PROGRESS,
                            tenant_id=completed.tenant_id,
                            campaign_id=completed.campaign_id,
                            progress=await read_progress(repo, run),
                        )
                    )
            await repo.record_campaign_events(final_progress)
            await repo.record_campaign_events(
                [
                    CampaignEvent(
                        kind=CampaignEventKind.COMPLETED,
                        tenant_id=completed.tenant_id,
                        campaign_id=completed.campaign_id,
                    )
                    for completed in completed_runs
                ]
            )
        for completed in completed_runs:
            log.info("campaign completed", campaign_id=str(completed.campaign_id))
        for _ in completed_runs:  # once committed
            self._metrics.campaign_completed()
