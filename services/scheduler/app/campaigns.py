"""Use cases for campaigns: create, launch, follow, and react to the router stopping one."""

from dataclasses import dataclass, field
from uuid import UUID

import structlog

from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.expansion import ExpansionSupervisor
from services.scheduler.app.lists import require_list
from services.scheduler.app.ports import Repository, SchedulerMetrics, Store
from services.scheduler.domain.campaign import (
    Campaign,
    CampaignState,
    Run,
    RunState,
    describe_stop,
    first_run_state,
)
from shared.contracts import CampaignEvent, CampaignEventKind, MessageContent
from shared.errors import NotFound

log = structlog.get_logger("scheduler.campaigns")


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    run: Run | None
    counts: dict[str, int] = field(default_factory=dict)
    """Messages per state, and beside them sent messages that `bounced` or drew a complaint (`complained`)."""
    per_server: dict[str, int] = field(default_factory=dict)
    """Sent messages per server id."""


class Campaigns:
    def __init__(
        self,
        store: Store,
        expansions: ExpansionSupervisor,
        completion: RunCompletion,
        metrics: SchedulerMetrics,
    ) -> None:
        self._store = store
        self._expansions = expansions
        self._completion = completion
        self._metrics = metrics

    async def create(self, tenant_id: UUID, name: str, list_id: UUID, content: MessageContent) -> Campaign:
        async with self._store.transaction() as repo:
            await require_list(repo, list_id, tenant_id)
            return await repo.create_campaign(tenant_id, name, list_id, content)

    async def launch(self, tenant_id: UUID, campaign_id: UUID) -> Run:
        """Starts a run over the list as it is now; the expansion continues in the background."""
        async with self._store.transaction() as repo:
            campaign = await self._find(repo, campaign_id, tenant_id, for_update=True)
            campaign.check_can_launch()
            snapshot = await repo.snapshot_list(campaign.list_id)
            run = await repo.create_run(campaign.id, first_run_state(snapshot.total), snapshot)
            await repo.set_campaign_state(campaign.id, CampaignState.RUNNING, stop_reason=None)
        log.info("campaign launched", campaign_id=str(campaign_id), run_id=str(run.id), total=run.total)
        self._metrics.campaign_launched()
        if run.state is RunState.EXPANDING:
            self._expansions.start(run.id)
        else:
            await self._completion.check([run.id])
        return run

    async def resume(self, tenant_id: UUID, campaign_id: UUID) -> Campaign:
        """Runs a stopped campaign again: the router re-routes its held messages, expansion continues."""
        async with self._store.transaction() as repo:
            campaign = await self._find(repo, campaign_id, tenant_id, for_update=True)
            campaign.check_can_resume()
            resumed = await repo.set_campaign_state(campaign.id, CampaignState.RUNNING, stop_reason=None)
            # In the outbox with the state change: the router hears of it whenever the broker is back.
            await repo.record_campaign_events(
                [
                    CampaignEvent(
                        kind=CampaignEventKind.RESUMED, tenant_id=campaign.tenant_id, campaign_id=campaign.id
                    )
                ]
            )
            run = await repo.latest_run(campaign.id)
        log.info("campaign resumed", campaign_id=str(campaign_id))
        if run is not None and run.state is RunState.EXPANDING:
            self._expansions.start(run.id)
        return resumed

    async def report(self, campaign_id: UUID, tenant_id: UUID | None) -> CampaignReport:
        """The campaign's progress; `tenant_id` None reads any tenant's campaign (the operator)."""
        async with self._store.transaction() as repo:
            campaign = await self._find(repo, campaign_id, tenant_id)
            run = await repo.latest_run(campaign.id)
            if run is None:
                return CampaignReport(campaign, None)
            return CampaignReport(
                campaign,
                run,
                counts=await repo.status_counts(run.id),
                per_server=await repo.sent_per_server(run.id),
            )

    async def owner(self, campaign_id: UUID) -> UUID | None:
        """The tenant that created the campaign, or None when there is no such campaign.

        The catalog asks before it stores a campaign's sending policy: a policy is the owner's alone."""
        async with self._store.transaction() as repo:
            campaign = await repo.find_campaign(campaign_id, None)
        return None if campaign is None else campaign.tenant_id

    async def apply_event(self, event: CampaignEvent) -> None:
        """Follows the campaign decisions other services publish; the scheduler's own are ignored."""
        if event.kind is not CampaignEventKind.STOPPED:
            return
        reason = describe_stop(event.reason, event.servers)
        async with self._store.transaction() as repo:
            stopped = await repo.stop_campaign(event.campaign_id, event.tenant_id, reason)
        if stopped:
            log.warning("campaign stopped", campaign_id=str(event.campaign_id), reason=reason)
        else:
            log.info("stop ignored: campaign unknown or not running", campaign_id=str(event.campaign_id))

    @staticmethod
    async def _find(
        repo: Repository, campaign_id: UUID, tenant_id: UUID | None, *, for_update: bool = False
    ) -> Campaign:
        campaign = await repo.find_campaign(campaign_id, tenant_id, for_update=for_update)
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return campaign
