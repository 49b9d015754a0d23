"""Campaigns and their runs: the states they move through and the rules for moving."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.contracts import Exclusion, MessageContent
from shared.errors import Conflict


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    """Launched for later: its run starts at `send_at`."""
    RUNNING = "running"
    PAUSED = "paused"
    """Paused by its tenant: expansion stops after the batch in hand, the router holds what is queued."""
    STOPPED = "stopped"
    """Stopped by the router: no eligible server."""
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    """Cancelled by its tenant: final; every message not yet final became `cancelled`."""


# Which states each action may start from: everything else is a 409 naming the state.
LAUNCHABLE = frozenset({CampaignState.DRAFT})
PAUSABLE = frozenset({CampaignState.RUNNING})
RESUMABLE = frozenset({CampaignState.STOPPED, CampaignState.PAUSED})
CANCELLABLE = frozenset(
    {CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.STOPPED}
)


class RunState(StrEnum):
    EXPANDING = "expanding"
    EXPANDED = "expanded"
    """Every recipient has been published; the run waits for its messages to become final."""
    COMPLETED = "completed"


class InvalidTransition(Conflict):
    """The campaign is not in a state that allows what was asked."""


@dataclass(frozen=True)
class Campaign:
    id: UUID
    tenant_id: UUID
    name: str
    list_id: UUID
    content: MessageContent
    state: CampaignState
    stop_reason: str | None
    created_at: datetime
    updated_at: datetime
    send_at: datetime | None = None
    """When a scheduled run starts (UTC); kept once it started, as when it was meant to."""
    time_zone: str | None = None
    """The IANA zone `send_at` was given in, as given (None: given with an offset and no zone)."""

    def check_can_launch(self) -> None:
        """Launching now, or scheduling for later: both start from a draft."""
        self._require(LAUNCHABLE, "launched")

    def check_can_pause(self) -> None:
        self._require(PAUSABLE, "paused")

    def check_can_resume(self) -> None:
        self._require(RESUMABLE, "resumed")

    def check_can_cancel(self) -> None:
        self._require(CANCELLABLE, "cancelled")

    def _require(self, states: frozenset[CampaignState], action: str) -> None:
        if self.state not in states:
            allowed = " or ".join(sorted(state.value for state in states))
            raise InvalidTransition(
                f"campaign {self.id} is {self.state}; only a {allowed} campaign can be {action}"
            )


@dataclass(frozen=True)
class Run:
    """One launch of a campaign: the list as it was at launch, expanded in recipient id order."""

    id: UUID
    campaign_id: UUID
    state: RunState
    total: int
    expanded: int
    cursor: int
    """The id of the last recipient expanded; expansion continues after it."""
    max_recipient_id: int
    """The list's highest recipient id at launch; recipients added later are not part of this run."""
    started_at: datetime
    finished_at: datetime | None


def first_run_state(total: int) -> RunState:
    # An empty list has nothing to publish, so its run waits only for the completion check.
    return RunState.EXPANDED if total == 0 else RunState.EXPANDING


def describe_stop(reason: str, servers: Sequence[Exclusion]) -> str:
    """The stop reason a person reads: the router's reason, then why each server was left out."""
    text = reason or "stopped by routing"
    if servers:
        text += " (" + "; ".join(f"server {server.server_id}: {server.reason}" for server in servers) + ")"
    return text


def counts_with_unpublished(counts: dict[str, int], campaign: Campaign, run: Run) -> dict[str, int]:
    """A cancelled run's counts with the recipients it never published counted `cancelled`: they
    have no message (expansion stopped before them), yet each is a recipient the campaign will not mail."""
    unpublished = run.total - run.expanded
    if campaign.state is not CampaignState.CANCELLED or unpublished <= 0:
        return counts
    return {**counts, "cancelled": counts.get("cancelled", 0) + unpublished}
