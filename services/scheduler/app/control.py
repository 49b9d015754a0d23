"""Campaign control, as a tenant drives it: launch now or schedule for later, pause, resume, cancel,
and list. Every decision other services must hear goes into the outbox with the change that made it.

States and who moves them (`domain.campaign`):

    draft ──launch──▶ running ◀──resume── paused / stopped
    draft ──launch with send_at──▶ scheduled ──(start sweeper, at send_at)──▶ running
    running ──pause──▶ paused;  running ──(router: no server)──▶ stopped
    scheduled / running / paused / stopped ──cancel──▶ cancelled (final)
    running / paused / stopped ──(every message final)──▶ completed
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import structlog

from services.scheduler.app.completion import RunCompletion
from services.scheduler.app.expansion import ExpansionSupervisor
from services.scheduler.app.ports import CampaignQuery, Repository, SchedulerMetrics, SenderDomains, Store
from services.scheduler.domain.campaign import Campaign, CampaignState, Run, RunState, first_run_state
from services.scheduler.domain.paging import PAGE_MAX, decode_cursor, encode_cursor
from services.scheduler.domain.schedule import StartTime, start_time, zone_named
from services.scheduler.domain.senders import check_from_address
from shared.contracts import CampaignEvent, CampaignEventKind, utcnow
from shared.errors import InvalidInput, NotFound

log = structlog.get_logger("scheduler.control")

DEFAULT_CANCEL_REASON = "cancelled by the tenant"


@dataclass(frozen=True)
class Launched:
    campaign: Campaign
    run: Run | None
    """The run started now; None when the campaign was scheduled for later."""


@dataclass(frozen=True)
class CampaignPage:
    campaigns: list[Campaign]
    next_cursor: str | None
    """Pass it back for the next page; None on the last page."""


class CampaignControl:
    def __init__(
        self,
        store: Store,
        expansions: ExpansionSupervisor,
        completion: RunCompletion,
        metrics: SchedulerMetrics,
        senders: SenderDomains,
        *,
        clock: Callable[[], datetime] = utcnow,
        start_batch: int = 50,
    ) -> None:
        self._store = store
        self._expansions = expansions
        self._completion = completion
        self._metrics = metrics
        self._senders = senders
        self._now = clock
        self._start_batch = start_batch

    # ------------------------------------------------------------------ launch and schedule

    async def launch(
        self,
        tenant_id: UUID,
        campaign_id: UUID,
        *,
        send_at: datetime | None = None,
        time_zone: str | None = None,
    ) -> Launched:
        """Starts a run over the list as it is now, or schedules it for `send_at` (in `time_zone`).

        The campaign's From is checked against its servers' identity domains first (the catalog is
        asked outside any transaction); the state is checked again under the row's lock."""
        start = self._start_time(send_at, time_zone)
        async with self._store.transaction() as repo:
            campaign = await _find(repo, campaign_id, tenant_id)
        campaign.check_can_launch()  # a 409 before troubling the catalog
        senders = await self._senders.of_campaign(tenant_id, campaign_id)
        check_from_address(
            campaign.content.from_address,
            (domain for server in senders.servers for domain in server.from_domains),
        )
        async with self._store.transaction() as repo:
            campaign = await _find(repo, campaign_id, tenant_id, for_update=True)
            campaign.check_can_launch()
            if start is not None:
                scheduled = await repo.schedule_campaign(campaign.id, start.send_at, start.time_zone)
                await repo.record_campaign_events([_event(CampaignEventKind.SCHEDULED, scheduled)])
            else:
                run, started = await self._start_run(repo, campaign)
        if start is not None:
            log.info("campaign scheduled", campaign_id=str(campaign_id), send_at=start.send_at.isoformat())
            return Launched(scheduled, None)
        await self._after_start(run)
        return Launched(started, run)

    async def start_due(self) -> int:
        """Starts every scheduled campaign whose time has come, as a launch would; returns how many.

        Run periodically by every replica (a supervised background task): each claims due campaigns
        with `FOR UPDATE SKIP LOCKED`, so two replicas never start one twice, and a campaign whose
        time came while no scheduler ran starts at the first sweep after."""
        started = 0
        while True:
            runs: list[Run] = []
            async with self._store.transaction() as repo:
                due = await repo.claim_due_campaigns(self._start_batch)
                for campaign in due:
                    run, _ = await self._start_run(repo, campaign)
                    runs.append(run)
            for campaign, run in zip(due, runs, strict=True):
                log.info(
                    "scheduled campaign started",
                    campaign_id=str(campaign.id),
                    send_at=campaign.send_at.isoformat() if campaign.send_at else None,
                )
                await self._after_start(run)
            started += len(runs)
            if len(due) < self._start_batch:
                return started

    async def _start_run(self, repo: Repository, campaign: Campaign) -> tuple[Run, Campaign]:
        """The run over the list as it is now, the campaign running, and `campaign_started` in the outbox."""
        snapshot = await repo.snapshot_list(campaign.list_id)
        run = await repo.create_run(campaign.id, first_run_state(snapshot.total), snapshot)
        running = await repo.set_campaign_state(campaign.id, CampaignState.RUNNING, stop_reason=None)
        await repo.record_campaign_events([_event(CampaignEventKind.STARTED, running)])
        return run, running

    async def _after_start(self, run: Run) -> None:
        """Once the start has committed: the expansion, or for an empty list the completion check."""
        log.info("campaign launched", campaign_id=str(run.campaign_id), run_id=str(run.id), total=run.total)
        self._metrics.campaign_launched()
        if run.state is RunState.EXPANDING:
            self._expansions.start(run.id)
        else:
            await self._completion.check([run.id])

    def _start_time(self, send_at: datetime | None, time_zone: str | None) -> StartTime | None:
        if send_at is None:
            if time_zone is not None:
                zone_named(time_zone)  # a bad zone is named even where it would not be used
                raise InvalidInput.field("send_at", "a time_zone without send_at: give the time to start at")
            return None
        return start_time(send_at, time_zone, now=self._now())

    # ------------------------------------------------------------------ pause, resume, cancel

    async def pause(self, tenant_id: UUID, campaign_id: UUID) -> Campaign:
        """Expansion stops after the batch in hand (it expands running campaigns only); the router
        and the delivery workers hold what is queued once they hear `campaign_paused`."""
        async with self._store.transaction() as repo:
            campaign = await _find(repo, campaign_id, tenant_id, for_update=True)
            campaign.check_can_pause()
            paused = await repo.set_campaign_state(campaign.id, CampaignState.PAUSED, stop_reason=None)
            await repo.record_campaign_events([_event(CampaignEventKind.PAUSED, paused)])
        log.info("campaign paused", campaign_id=str(campaign_id))
        return paused

    async def resume(self, tenant_id: UUID, campaign_id: UUID) -> Campaign:
        """Runs a paused or stopped campaign again: the router releases its held messages, and
        expansion continues after the run's cursor (no recipient skipped, none published twice)."""
        async with self._store.transaction() as repo:
            campaign = await _find(repo, campaign_id, tenant_id, for_update=True)
            campaign.check_can_resume()
            resumed = await repo.set_campaign_state(campaign.id, CampaignState.RUNNING, stop_reason=None)
            # In the outbox with the state change: the router hears of it whenever the broker is back.
            await repo.record_campaign_events([_event(CampaignEventKind.RESUMED, resumed)])
            run = await repo.latest_run(campaign.id)
        log.info("campaign resumed", campaign_id=str(campaign_id), was=campaign.state.value)
        if run is not None and run.state is RunState.EXPANDING:
            self._expansions.start(run.id)
        return resumed

    async def cancel(self, tenant_id: UUID, campaign_id: UUID, reason: str | None = None) -> Campaign:
        """Ends the campaign for good, in one transaction: every message of its run not yet final
        becomes `cancelled` (a server's outcome for one that was mid-send still overrides it), the
        run expands no further, and `campaign_cancelled` goes out with the reason."""
        why = reason or DEFAULT_CANCEL_REASON
        async with self._store.transaction() as repo:
            campaign = await _find(repo, campaign_id, tenant_id, for_update=True)
            campaign.check_can_cancel()
            run = await repo.latest_run(campaign.id)
            cancelled_messages = 0
            if run is not None and run.state is not RunState.COMPLETED:
                cancelled_messages = await repo.cancel_run(run.id)
            cancelled = await repo.set_campaign_state(campaign.id, CampaignState.CANCELLED, stop_reason=why)
            await repo.record_campaign_events([_event(CampaignEventKind.CANCELLED, cancelled, reason=why)])
        log.info(
            "campaign cancelled",
            campaign_id=str(campaign_id),
            was=campaign.state.value,
            messages_cancelled=cancelled_messages,
        )
        if run is not None:
            # Every message is final now: the run completes (the campaign stays `cancelled`).
            await self._completion.check([run.id])
        return cancelled

    # ------------------------------------------------------------------ listing

    async def list(
        self, tenant_id: UUID, *, limit: int, cursor: str | None = None, state: CampaignState | None = None
    ) -> CampaignPage:
        """The tenant's campaigns, newest first, `limit` (at most `PAGE_MAX`) at a time."""
        limit = max(1, min(limit, PAGE_MAX))
        after = decode_cursor(cursor) if cursor else None
        async with self._store.transaction() as repo:
            found = await repo.list_campaigns(
                tenant_id, CampaignQuery(limit=limit + 1, after=after, state=state)
            )
        page = found[:limit]
        more = len(found) > limit
        return CampaignPage(page, encode_cursor(page[-1].created_at, page[-1].id) if more else None)


async def _find(
    repo: Repository, campaign_id: UUID, tenant_id: UUID, *, for_update: bool = False
) -> Campaign:
    """The tenant's campaign; another tenant's is as unknown as one that does not exist (404)."""
    campaign = await repo.find_campaign(campaign_id, tenant_id, for_update=for_update)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def _event(kind: CampaignEventKind, campaign: Campaign, *, reason: str = "") -> CampaignEvent:
    return CampaignEvent(
        kind=kind,
        tenant_id=campaign.tenant_id,
        campaign_id=campaign.id,
        reason=reason,
        send_at=campaign.send_at if kind is CampaignEventKind.SCHEDULED else None,
    )
