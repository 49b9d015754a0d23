"""The scheduler's HTTP bodies: what callers send (validated strictly) and what they get back."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from services.scheduler.app.campaigns import CampaignReport
from services.scheduler.app.control import CampaignPage, Launched
from services.scheduler.app.lists import ListPage, RecipientPage
from services.scheduler.domain.addresses import REASONS as ADDRESS_REASONS
from services.scheduler.domain.addresses import address_refusal
from services.scheduler.domain.campaign import Campaign, CampaignState
from services.scheduler.domain.recipients import ListImport, Recipient, RecipientList, RecipientsAdded
from services.scheduler.domain.schedule import TIME_ZONE_MAX
from shared.contracts import CampaignProgress, HeaderSafeStr, MessageContent, RecipientFields
from shared.limits import (
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    NAME_MAX,
    RECIPIENT_FIELDS_MAX,
    RECIPIENTS_PER_REQUEST_MAX,
)

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
    recipient_count: int = Field(description="Recipients the list holds now.")
    field_names: list[str] = Field(
        description="The custom field names its recipients have (sorted): what a campaign's template may name."
    )

    @classmethod
    def of(cls, recipient_list: RecipientList) -> "ListOut":
        return cls(
            id=recipient_list.id,
            name=recipient_list.name,
            created_at=recipient_list.created_at,
            recipient_count=recipient_list.recipient_count,
            field_names=list(recipient_list.field_names),
        )


class ListPageOut(BaseModel):
    lists: list[ListOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page. Opaque."
    )

    @classmethod
    def of(cls, page: ListPage) -> "ListPageOut":
        return cls(lists=[ListOut.of(found) for found in page.lists], next_cursor=page.next_cursor)


def _address_the_import_accepts(address: str) -> str:
    # The CSV import's check too, so that the two ways into a list accept the same addresses.
    refusal = address_refusal(address)
    if refusal is not None:
        raise ValueError(ADDRESS_REASONS[refusal])
    return address


class RecipientIn(Body):
    email: Annotated[EmailStr, AfterValidator(_address_the_import_accepts)]
    name: HeaderSafeStr = Field("", max_length=NAME_MAX)
    fields: RecipientFields = Field(
        default_factory=dict,
        description=f"Custom (merge) fields: at most {RECIPIENT_FIELDS_MAX}, names are identifiers of at most "
        f"{FIELD_NAME_MAX} characters, values at most {FIELD_VALUE_MAX} characters.",
    )


class RecipientOut(BaseModel):
    id: int
    email: str
    name: str
    fields: dict[str, str]

    @classmethod
    def of(cls, recipient: Recipient) -> "RecipientOut":
        return cls(id=recipient.id, email=recipient.email, name=recipient.name, fields=recipient.fields)


class RecipientPageOut(BaseModel):
    recipients: list[RecipientOut] = Field(description="In the order they were added.")
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page. Opaque."
    )

    @classmethod
    def of(cls, page: RecipientPage) -> "RecipientPageOut":
        return cls(recipients=[RecipientOut.of(r) for r in page.recipients], next_cursor=page.next_cursor)


class RefusedRowOut(BaseModel):
    line: int = Field(description="The row's line in the file (the header is line 1).")
    column: str = Field(description="The column at fault; empty when the row as a whole is.")
    value: str = Field(description="The value at fault, cut to 100 characters.")
    reason: str


class ImportReportOut(BaseModel):
    id: UUID
    list_id: UUID
    created_at: datetime
    status: Literal["completed", "failed"] = Field(
        description="`failed`: the import stopped at `error`; the rows before it were imported."
    )
    error: str | None
    rows_read: int = Field(description="Data rows read (the header and blank lines are not counted).")
    added: int = Field(description="Recipients new to the list.")
    duplicates: int = Field(
        description="Valid rows whose address (compared case-insensitively) the list or the file had already."
    )
    refused: dict[str, int] = Field(description="Refused rows, counted by reason.")
    refused_rows: list[RefusedRowOut] = Field(description="The first 100 refused rows.")

    @classmethod
    def of(cls, saved: ListImport) -> "ImportReportOut":
        return cls.model_validate(
            {**saved.report, "id": saved.id, "list_id": saved.list_id, "created_at": saved.created_at}
        )


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
    send_at: datetime | None = Field(
        None,
        description="When a scheduled run starts (or started), in UTC; null: launched at once, or a draft.",
    )
    time_zone: str | None = Field(None, description="The IANA time zone send_at was given in, as given.")

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
            send_at=campaign.send_at,
            time_zone=campaign.time_zone,
        )


class CampaignPageOut(BaseModel):
    campaigns: list[CampaignOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page. Opaque."
    )

    @classmethod
    def of(cls, page: CampaignPage) -> "CampaignPageOut":
        return cls(campaigns=[CampaignOut.of(c) for c in page.campaigns], next_cursor=page.next_cursor)


class LaunchIn(Body):
    """Launch at a later time; without a body the campaign starts at once."""

    send_at: datetime = Field(
        description=(
            "When to start: with an offset (`2030-05-01T09:00:00+02:00`, `…Z`), or a local time without one "
            "(`2030-05-01T09:00:00`) read in `time_zone`. At most a minute in the past, at most a year ahead. "
            "A local time that a daylight-saving change skips or repeats is refused."
        ),
        examples=["2030-05-01T09:00:00"],
    )
    time_zone: str | None = Field(
        None,
        max_length=TIME_ZONE_MAX,
        description="IANA time zone (`Europe/Paris`) of a local send_at; with an offset it is only recorded.",
        examples=["Europe/Paris"],
    )


class CancelIn(Body):
    reason: HeaderSafeStr = Field(
        "",
        max_length=500,
        description="Why, for the `campaign_cancelled` event and the campaign's stop_reason.",
    )


class LaunchOut(BaseModel):
    id: UUID
    state: CampaignState = Field(description="`running`, or `scheduled` when launched with send_at.")
    run_id: UUID | None = Field(description="The run started; null while the campaign is scheduled.")
    total: int = Field(
        description="Recipients in the run (the list as it is at the start); 0 while scheduled."
    )
    send_at: datetime | None = None
    time_zone: str | None = None

    @classmethod
    def of(cls, launched: Launched) -> "LaunchOut":
        campaign, run = launched.campaign, launched.run
        return cls(
            id=campaign.id,
            state=campaign.state,
            run_id=run.id if run else None,
            total=run.total if run else 0,
            send_at=campaign.send_at,
            time_zone=campaign.time_zone,
        )


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
    progress: CampaignProgress | None = Field(
        None,
        description="The same figures with the send rate and the estimated completion (`GET /campaigns/{id}/progress`); "
        "null before the campaign's first launch.",
    )

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
            progress=report.progress,
        )


class CampaignProgressOut(CampaignProgress):
    """A campaign's progress: its latest run's counts, send rate over the last minutes and estimated completion."""

    campaign_id: UUID
    state: CampaignState

    @classmethod
    def of(cls, report: CampaignReport) -> "CampaignProgressOut":
        progress = report.progress or CampaignProgress(total=0, expanded=0)
        return cls(campaign_id=report.campaign.id, state=report.campaign.state, **progress.model_dump())
