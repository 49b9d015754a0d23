"""The scheduler's HTTP bodies: what callers send (validated strictly) and what they get back."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from services.scheduler.app.campaigns import CampaignReport
from services.scheduler.domain.campaign import Campaign, CampaignState, Run
from services.scheduler.domain.recipients import RecipientList, RecipientsAdded
from shared.contracts import HeaderSafeStr, MessageContent
from shared.limits import NAME_MAX, RECIPIENTS_PER_REQUEST_MAX

MAX_RECIPIENTS_PER_REQUEST = RECIPIENTS_PER_REQUEST_MAX


class Body(BaseModel):
    # A misspelt field is an error the caller should hear about, not a value silently dropped.
    model_config = ConfigDict(extra="forbid")


class ListIn(Body):
    name: str = Field(min_length=1, max_length=NAME_MAX)


class ListOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime

    @classmethod
    def of(cls, recipient_list: RecipientList) -> "ListOut":
        return cls(id=recipient_list.id, name=recipient_list.name, created_at=recipient_list.created_at)


class RecipientIn(Body):
    email: EmailStr
    name: HeaderSafeStr = Field("", max_length=NAME_MAX)


class RecipientsIn(Body):
    recipients: list[RecipientIn] = Field(min_length=1, max_length=MAX_RECIPIENTS_PER_REQUEST)


class RecipientsAddedOut(BaseModel):
    added: int = Field(description="Recipients new to the list; addresses it had already are ignored.")
    total: int

    @classmethod
    def of(cls, result: RecipientsAdded) -> "RecipientsAddedOut":
        return cls(added=result.added, total=result.total)


class ContentIn(MessageContent):
    """A campaign's content as a caller sends it: the contract's header checks, and real addresses."""

    model_config = ConfigDict(extra="forbid")

    from_address: EmailStr
    reply_to: EmailStr | None = None

    def as_contract(self) -> MessageContent:
        return MessageContent.model_validate(self.model_dump())


class CampaignIn(Body):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    list_id: UUID
    content: ContentIn


class CampaignOut(BaseModel):
    id: UUID
    name: str
    list_id: UUID
    state: CampaignState
    stop_reason: str | None
    content: MessageContent
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, campaign: Campaign) -> "CampaignOut":
        return cls(
            id=campaign.id,
            name=campaign.name,
            list_id=campaign.list_id,
            state=campaign.state,
            stop_reason=campaign.stop_reason,
            content=campaign.content,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
        )


class LaunchOut(BaseModel):
    id: UUID
    state: CampaignState
    run_id: UUID
    total: int

    @classmethod
    def of(cls, run: Run) -> "LaunchOut":
        return cls(id=run.campaign_id, state=CampaignState.RUNNING, run_id=run.id, total=run.total)


class CampaignReportOut(BaseModel):
    id: UUID
    name: str
    state: CampaignState
    stop_reason: str | None
    total: int
    expanded: int
    counts: dict[str, int] = Field(
        description=(
            "Messages per state (`queued`, `waiting`, `routed`, `held`, `deferred`, then the final `sent`, "
            "`failed`, `unknown` and `suppressed`: skipped at expansion or found suppressed just before "
            "sending), and beside them `bounced` and `complained`: sent messages about which the recipient's "
            "system later reported a bounce or a complaint, each counted once (they are in `sent` too)."
        ),
        examples=[{"sent": 950, "suppressed": 40, "failed": 10, "bounced": 12, "complained": 1}],
    )
    per_server: dict[str, int] = Field(description="Sent messages per server id.")

    @classmethod
    def of(cls, report: CampaignReport) -> "CampaignReportOut":
        campaign, run = report.campaign, report.run
        return cls(
            id=campaign.id,
            name=campaign.name,
            state=campaign.state,
            stop_reason=campaign.stop_reason,
            total=run.total if run else 0,
            expanded=run.expanded if run else 0,
            counts=report.counts,
            per_server=report.per_server,
        )
