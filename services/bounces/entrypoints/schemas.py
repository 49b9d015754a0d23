"""The bounces API's request and answer bodies; every field a caller fills is bounded."""

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts import FeedbackClass
from shared.limits import EMAIL_ADDRESS_MAX, REASON_MAX


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=EMAIL_ADDRESS_MAX)
    reason: str | None = Field(None, max_length=REASON_MAX)
    expires_at: datetime | None = Field(None, description="When it stops applying; none: for good.")

    @field_validator("expires_at")
    @classmethod
    def _in_utc_range(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC, where it is stored: it failed on the
        # way to the database, a 500, until refused here.
        if value is not None and value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("out of range once in UTC") from None
        return value


class ImportEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=1000)
    reason: str | None = Field(None, max_length=REASON_MAX)


class SuppressionOut(BaseModel):
    address: str
    reason: str
    source: str = Field(description="bounce, complaint, unsubscribe, manual or import")
    created_at: datetime
    expires_at: datetime | None
    feedback_id: int | None = Field(description="The feedback that caused it, if any (`GET /feedback/{id}`).")


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next: str | None = Field(description="Pass as `after` for the next page; none: this is the last.")


class RefusedOut(BaseModel):
    row: int
    address: str
    why: str


class ImportOut(BaseModel):
    added: list[str]
    already_there: list[str]
    refused: list[RefusedOut]


class Reclassification(BaseModel):
    original_class: str
    by: str
    at: datetime
    note: str


class FeedbackOut(BaseModel):
    id: int
    received_at: datetime
    source: str
    feedback_class: str = Field(serialization_alias="class")
    rule: str
    feedback_type: str
    matched: bool
    message_id: UUID | None
    tenant_id: UUID | None
    campaign_id: UUID | None
    run_id: UUID | None
    server_id: UUID | None
    recipient: str = Field(
        description="The message's recipient once matched, else the address the report named."
    )
    reported_recipient: str
    recipient_mismatch: bool = Field(
        description="The report named another address than the message's recipient: nothing was suppressed."
    )
    status_code: str
    action: str
    diagnostic: str
    remote_mta: str
    occurred_at: datetime | None
    published_status: str | None = Field(
        description="The status event it caused: bounced, complained or none."
    )
    reclassified: Reclassification | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> "FeedbackOut":
        reclassified = (
            Reclassification(
                original_class=row["original_class"],
                by=row["reclassified_by"],
                at=row["reclassified_at"],
                note=row["reclassify_note"] or "",
            )
            if row["reclassified_at"] is not None
            else None
        )
        fields = {key: row[key] for key in cls.model_fields if key in row}
        return cls(
            **fields,
            feedback_class=row["class"],
            matched=row["message_id"] is not None,
            reclassified=reclassified,
        )


class FeedbackDetailOut(FeedbackOut):
    details: dict[str, Any]
    raw_size: int
    raw_base64: str | None = Field(
        None,
        description="The source as received (cut at SENDPOOL_BOUNCES_RAW_MAX_BYTES); the operator's only.",
    )

    @classmethod
    def detail(cls, row: dict[str, Any], *, with_raw: bool) -> "FeedbackDetailOut":
        base = FeedbackOut.of(row).model_dump()
        raw = base64.b64encode(row["raw"]).decode() if with_raw else None
        return cls(**base, details=row["details"], raw_size=row["raw_size"], raw_base64=raw)


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    next: int | None = Field(description="Pass as `before` for the next page; none: this is the last.")


class ReclassifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    feedback_class: FeedbackClass = Field(alias="class")
    note: str = Field("", max_length=REASON_MAX)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    tenant_id: UUID | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    next: int | None
