"""What the use cases need from the outside world, declared by them and implemented by adapters."""

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from services.scheduler.domain.campaign import Campaign, CampaignState, Run, RunState
from services.scheduler.domain.csv_import import ImportRow
from services.scheduler.domain.expansion import ExpansionBatch
from services.scheduler.domain.progress import ProgressSample
from services.scheduler.domain.recipients import (
    CampaignUsingList,
    ListImport,
    ListSnapshot,
    NewRecipient,
    Recipient,
    RecipientList,
)
from services.scheduler.domain.stale import StaleMessage
from shared.contracts import CampaignEvent, CampaignSenders, MessageContent, SendBatch, StatusEvent


@dataclass(frozen=True)
class ExpansionLease:
    """Which process expands a run, and for how long its claim holds without being renewed.

    One replica at a time expands a run: the others leave it alone while the lease holds, and
    take it over once its holder has stopped renewing it (the holder died, or was stopped).
    """

    holder: str
    seconds: float


@dataclass(frozen=True)
class CampaignQuery:
    """One page of a tenant's campaigns: `limit` of them after the (created_at, id) of `after`."""

    limit: int
    after: tuple[datetime, UUID] | None = None
    state: CampaignState | None = None


class ExpansionConflict(Exception):
    """The run's cursor moved under this expansion: another expander is working on the run."""


class CompletedCampaign(NamedTuple):
    tenant_id: UUID
    campaign_id: UUID


class ProgressRun(NamedTuple):
    """A running campaign's run whose progress this replica claimed to publish this round."""

    tenant_id: UUID
    campaign_id: UUID
    run: Run


@dataclass(frozen=True)
class ProgressFigures:
    """What a run's progress is computed from, read in one transaction at the database's `now`."""

    counts: dict[str, int]
    per_server: dict[str, int]
    samples: list[ProgressSample]
    now: datetime


@dataclass(frozen=True)
class RunningFigures:
    """The running campaigns as a whole, for monitoring."""

    campaigns: int
    pending_messages: int
    """Messages of their current runs not final yet (those not expanded yet included)."""
    stalled: int
    """Campaigns with pending messages and no status change for too long."""


class Repository(Protocol):
    """The scheduler's tables, seen through one database transaction."""

    # lists
    async def create_list(self, tenant_id: UUID, name: str) -> RecipientList: ...
    async def find_list(self, list_id: UUID, tenant_id: UUID) -> RecipientList | None: ...
    async def add_recipients(self, list_id: UUID, recipients: Sequence[NewRecipient]) -> int: ...
    async def snapshot_list(self, list_id: UUID) -> ListSnapshot: ...
    async def page_lists(
        self, tenant_id: UUID, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[RecipientList]: ...
    async def page_recipients(self, list_id: UUID, limit: int, after_id: int) -> list[Recipient]: ...
    async def lock_list(self, list_id: UUID, tenant_id: UUID) -> RecipientList | None:
        """`find_list`, holding the list's row until the transaction ends (a delete, an import's chunk)."""
        ...

    async def unfinished_campaigns(self, list_id: UUID) -> list[CampaignUsingList]: ...
    async def delete_list(self, list_id: UUID) -> None:
        """Deletes the list's recipients and hides the list from `find_list` and `page_lists`."""
        ...

    async def import_recipients(
        self, list_id: UUID, rows: Sequence[ImportRow], field_names: Sequence[str]
    ) -> int:
        """Adds the rows whose address the list does not have yet (the first of a file's copies);
        returns how many were added."""
        ...

    async def save_import(self, list_id: UUID, tenant_id: UUID, report: dict[str, Any]) -> ListImport: ...
    async def find_import(self, import_id: UUID, list_id: UUID) -> ListImport | None: ...

    # campaigns and runs
    async def create_campaign(
        self, tenant_id: UUID, name: str, list_id: UUID, content: MessageContent
    ) -> Campaign: ...
    async def find_campaign(
        self, campaign_id: UUID, tenant_id: UUID | None, *, for_update: bool = False
    ) -> Campaign | None: ...
    async def set_campaign_state(
        self, campaign_id: UUID, state: CampaignState, stop_reason: str | None
    ) -> Campaign: ...
    async def stop_campaign(self, campaign_id: UUID, tenant_id: UUID, stop_reason: str) -> bool: ...
    async def list_campaigns(self, tenant_id: UUID, query: "CampaignQuery") -> list[Campaign]:
        """The tenant's campaigns newest first (by creation, then id), after `query.after`."""

    async def schedule_campaign(
        self, campaign_id: UUID, send_at: datetime, time_zone: str | None
    ) -> Campaign:
        """Makes the campaign `scheduled` to start at `send_at`."""

    async def claim_due_campaigns(self, limit: int) -> list[Campaign]:
        """Scheduled campaigns whose `send_at` has come, locked for this transaction (`FOR UPDATE
        SKIP LOCKED`): another replica's sweep skips them, so no campaign starts twice."""

    async def cancel_run(self, run_id: UUID) -> int:
        """Ends the run's expansion and makes every message of it not yet final `cancelled`, in one
        statement; returns how many."""

    async def create_run(self, campaign_id: UUID, state: RunState, snapshot: ListSnapshot) -> Run: ...
    async def latest_run(self, campaign_id: UUID) -> Run | None: ...
    async def status_counts(self, run_id: UUID) -> dict[str, int]: ...
    async def sent_per_server(self, run_id: UUID) -> dict[str, int]: ...

    # progress
    async def progress_figures(self, run_id: UUID) -> ProgressFigures:
        """The run's counts per state and per server, and its recent final-count samples."""

    async def record_progress_sample(self, run_id: UUID, final: int, counts: Mapping[str, int]) -> None:
        """Records `final` at the database's now, and prunes the run's samples too old to matter;
        remembers `counts` on the run, and when they last changed (`running_figures`)."""

    async def running_figures(self, *, stalled_after_seconds: float) -> RunningFigures:
        """Running campaigns, their messages not final yet, and those with such messages whose counts
        per state have not changed for `stalled_after_seconds`, as the progress ticks last read them."""

    async def claim_progress_runs(self, *, every_seconds: float, limit: int) -> list[ProgressRun]:
        """Runs of running campaigns whose progress no replica published within `every_seconds`,
        marked as published now: replicas ticking at once never claim the same run."""

    # expansion
    async def runs_to_expand(self) -> list[UUID]:
        """Runs of running campaigns left unexpanded that no replica's lease holds."""

    async def next_expansion_batch(
        self, run_id: UUID, limit: int, lease: ExpansionLease
    ) -> ExpansionBatch | None:
        """The next batch, claiming or renewing the lease; None if the run is not to be expanded
        (campaign not running, run expanded) or another holder's lease still holds."""

    async def renew_expansion(self, run_id: UUID, lease: ExpansionLease) -> bool:
        """Extends the lease if this holder still has it and the run is still to be expanded."""

    async def release_expansion(self, run_id: UUID, holder: str) -> None: ...

    async def record_expansion(self, batch: ExpansionBatch, suppressed: Sequence[StatusEvent]) -> RunState:
        """Records the batch's messages as queued, those of `suppressed` as suppressed with their
        reasons, and moves the cursor past them; the `suppressed` events go into the outbox in the
        same transaction, so the record and the events never disagree."""

    async def finish_expansion(self, run_id: UUID) -> None: ...

    # message states
    async def record_statuses(self, events: Sequence[StatusEvent]) -> set[UUID]:
        """Applies each event the folding rule lets through, in one statement (at most one event per
        message); returns the runs where a message became final."""

    async def record_feedback(self, events: Sequence[StatusEvent]) -> None:
        """Counts `bounced` and `complained` events of known runs once per message and status,
        in one statement; a copy of one already counted changes nothing."""

    async def complete_runs(self, run_ids: Sequence[UUID]) -> list[CompletedCampaign]: ...

    # stale messages
    async def claim_stale_messages(
        self, *, quiet_seconds: float, routed_quiet_seconds: float, limit: int
    ) -> list[StaleMessage]:
        """Messages of running campaigns quiet for too long, marked as published again now."""

    # decisions for other services
    async def record_campaign_events(self, events: Sequence[CampaignEvent]) -> None:
        """Publish `events` once this transaction commits (the outbox), at least once, in order."""


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Repository]:
        """A repository whose writes commit together when the block exits without an error."""
        ...


class CampaignEventPublisher(Protocol):
    async def publish_events(self, events: Sequence[CampaignEvent]) -> None:
        """Publishes them now, each with its own routing key, without the outbox: for events that
        may be lost (the next one replaces it), never for decisions other services must hear."""
        ...


class SendPublisher(Protocol):
    async def publish_batches(self, batches: Sequence[SendBatch]) -> None:
        """Publishes them all at once, one broker message each; returns once the broker has
        confirmed every one (and raises if it refused any)."""
        ...


class SenderDomains(Protocol):
    async def of_campaign(self, tenant_id: UUID, campaign_id: UUID) -> CampaignSenders:
        """The servers the campaign may send through, with the From domains each declares.

        Raises `shared.errors.DependencyUnavailable` when the catalog does not answer: never "none"."""
        ...


class SuppressionList(Protocol):
    async def suppressed(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        """The addresses among `addresses` that may not be mailed for the tenant, with why.

        Raises a transient fault (`shared.suppression.SuppressionUnavailable`) when there is no
        answer: never "nothing suppressed"."""
        ...


class SchedulerMetrics(Protocol):
    """What the scheduler counts for monitoring, each once it is committed."""

    def campaign_launched(self) -> None: ...

    def campaign_completed(self) -> None: ...

    def statuses_folded(self, per_status: Mapping[str, int]) -> None:
        """Status events written into message states, by status."""
        ...

    def stale_messages_resent(self, count: int) -> None:
        """Messages that made no progress for too long and were published again."""
        ...


class CampaignGauges(Protocol):
    def running(self, figures: RunningFigures) -> None:
        """The running campaigns now: replaces what was reported before."""
        ...
