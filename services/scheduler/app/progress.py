"""Campaign progress: read for the API, and published as `campaign_progress` events while campaigns run."""

import structlog

from services.scheduler.app.ports import CampaignEventPublisher, Repository, Store
from services.scheduler.domain.campaign import Run
from services.scheduler.domain.progress import campaign_progress, final_count
from shared.contracts import CampaignEvent, CampaignEventKind, CampaignProgress

log = structlog.get_logger("scheduler.progress")

CLAIM_SLACK = 0.9
"""A run is due again once 90 % of the interval has passed since it was last published: a replica's
tick that comes a little early still finds it due, and a second replica ticking in between does not."""

RUNS_PER_TICK = 1000
"""Most runs one tick publishes; any left over are the first claimed by the next tick (oldest first)."""


async def read_progress(repo: Repository, run: Run) -> CampaignProgress:
    """The run's progress now: counts per state and per server, rate and estimated completion."""
    figures = await repo.progress_figures(run.id)
    return campaign_progress(
        total=run.total,
        expanded=run.expanded,
        counts=figures.counts,
        per_server=figures.per_server,
        samples=figures.samples,
        now=figures.now,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


class ProgressReporter:
    """Publishes each running campaign's progress every `every_seconds`, one replica per campaign.

    The events are published straight to the broker, not through the outbox: a progress event that
    is lost (the broker is away at that moment) is harmless, since the next tick brings a newer
    one, and writing every tick's events into the outbox would only add load. The final progress
    of a run is different: it goes through the outbox with `campaign_completed` (`RunCompletion`).
    """

    def __init__(self, store: Store, publisher: CampaignEventPublisher, *, every_seconds: float) -> None:
        self._store = store
        self._publisher = publisher
        self._every_seconds = every_seconds

    async def tick(self) -> int:
        """One round: records a sample and publishes the progress of every run this replica claimed."""
        async with self._store.transaction() as repo:
            claimed = await repo.claim_progress_runs(
                every_seconds=self._every_seconds * CLAIM_SLACK, limit=RUNS_PER_TICK
            )
        events: list[CampaignEvent] = []
        for due in claimed:
            # One transaction per run: its counts and its new sample agree, and a long tick holds
            # no lock across runs.
            async with self._store.transaction() as repo:
                progress = await read_progress(repo, due.run)
                await repo.record_progress_sample(due.run.id, final_count(progress.counts), progress.counts)
            events.append(
                CampaignEvent(
                    kind=CampaignEventKind.PROGRESS,
                    tenant_id=due.tenant_id,
                    campaign_id=due.campaign_id,
                    progress=progress,
                )
            )
        if events:
            await self._publisher.publish_events(events)
            log.debug("campaign progress published", campaigns=len(events))
        return len(events)
