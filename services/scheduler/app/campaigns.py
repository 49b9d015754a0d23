"""Use cases for campaigns: create, follow, and react to the router stopping one (launch, pause, resume
and cancel: `app.control`)."""

from dataclasses import dataclass, field
from uuid import UUID

import structlog

from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.expansion import ExpansionSupervisor
from services.scheduler.app.lists import require_list
from services.scheduler.app.ports import Repository, SchedulerMetrics, Store
from services.scheduler.app.progress import read_progress
from services.scheduler.domain.campaign import (
    Campaign,
    Run,
    counts_with_unpublished,
    describe_stop,
)
from shared.contracts import CampaignEvent, CampaignEventKind, CampaignProgress, MessageContent
from shared.errors import NotFound
from shared.templates import check_templates

log = structlog.get_logger("scheduler.campaigns")


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    run: Run | None
    counts: dict[str, int] = field(default_factory=dict)
    """Messages per state, and beside them sent messages that `bounced` or drew a complaint (`complained`)."""
    per_server: dict[str, int] = field(default_factory=dict)
    """Sent messages per server id."""
    progress: CampaignProgress | None = None
    """The same counts with the run's send rate and estimated completion; None before the first launch."""


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
            recipient_list = await require_list(repo, list_id, tenant_id)
            # Refused now (422 naming the part, the line, the unknown fields) rather than failing every
            # recipient at delivery.
            check_templates(content.subject, content.text, content.html, recipient_list.field_names)
            return await repo.create_campaign(tenant_id, name, list_id, content)

    async def report(self, campaign_id: UUID, tenant_id: UUID | None) -> CampaignReport:
        """The campaign's progress; `tenant_id` None reads any tenant's campaign (the operator)."""
        async with self._store.transaction() as repo:
            campaign = await self._find(repo, campaign_id, tenant_id)
            run = await repo.latest_run(campaign.id)
            if run is None:
                return CampaignReport(campaign, None)
            progress = await read_progress(repo, run)
            return CampaignReport(
                campaign,
                run,
                counts=counts_with_unpublished(progress.counts, campaign, run),
                per_server=progress.per_server,
                progress=progress,
            )

    async def definition(self, campaign_id: UUID, tenant_id: UUID) -> Campaign:
        """The tenant's campaign as it was created and scheduled (content, list, schedule), without counts."""
        async with self._store.transaction() as repo:
            return await self._find(repo, campaign_id, tenant_id)

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
