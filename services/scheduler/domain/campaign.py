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
    RUNNING = "running"
    STOPPED = "stopped"
    COMPLETED = "completed"


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

    def check_can_launch(self) -> None:
        self._require(CampaignState.DRAFT, "launched")

    def check_can_resume(self) -> None:
        self._require(CampaignState.STOPPED, "resumed")

    def _require(self, state: CampaignState, action: str) -> None:
        if self.state is not state:
            raise InvalidTransition(
                f"campaign {self.id} is {self.state}; only a {state} campaign can be {action}"
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
