"""What the feedback-loop tests share: sent messages, feedback about them, and readers of the bounces schema."""

from dataclasses import dataclass
from uuid import UUID, uuid4

from services.bounces.adapters.feedback_store import PgSentMessages
from services.bounces.domain.feedback import Classification, Feedback, RecipientReport
from shared.contracts import FeedbackClass, MessageStatus, StatusBatch, StatusEvent
from shared.db import Database


@dataclass(frozen=True)
class Sent:
    event: StatusEvent

    @property
    def message_id(self) -> UUID:
        return self.event.message_id

    @property
    def tenant_id(self) -> UUID:
        return self.event.tenant_id

    @property
    def recipient(self) -> str:
        return self.event.recipient


def sent_event(
    recipient: str | None = None,
    *,
    tenant_id: UUID | None = None,
    server_id: UUID | None = None,
    vendor_message_id: str | None = None,
) -> StatusEvent:
    return StatusEvent(
        status=MessageStatus.SENT,
        message_id=uuid4(),
        tenant_id=tenant_id or uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient=recipient or f"{uuid4().hex[:10]}@example.com",
        server_id=server_id or uuid4(),
        vendor="smtp",
        vendor_message_id=vendor_message_id,
    )


async def remember(database: Database, *events: StatusEvent) -> list[Sent]:
    await PgSentMessages(database).remember(list(events))
    return [Sent(event) for event in events]


def feedback_about(
    message_id: UUID | None,
    feedback_class: FeedbackClass,
    *,
    address: str = "",
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 user unknown",
    raw: bytes | None = None,
    recipients: tuple[RecipientReport, ...] | None = None,
    original_message_id: UUID | None = None,
    server_id: UUID | None = None,
    vendor_message_id: str | None = None,
    event_id: str | None = None,
    feedback_type: str = "",
) -> Feedback:
    reports = (
        recipients if recipients is not None else (RecipientReport(address, status, "failed", diagnostic),)
    )
    return Feedback(
        source="smtp" if event_id is None else "sendgrid",
        raw=raw if raw is not None else f"a report {uuid4()}".encode(),
        classification=Classification(
            feedback_class,
            f"test.{feedback_class.value}",
            reports,
            feedback_type=feedback_type,
            original_message_id=original_message_id,
        ),
        message_id=message_id,
        server_id=server_id,
        vendor_message_id=vendor_message_id,
        details={"event_id": event_id} if event_id else {},
    )


async def suppressions_of(database: Database, tenant_id: UUID | None) -> dict[str, dict]:
    rows = await database.pool.fetch(
        "SELECT * FROM suppressions WHERE tenant_id IS NOT DISTINCT FROM $1", tenant_id
    )
    return {row["address"]: dict(row) for row in rows}


async def outbox_events(database: Database, tenant_id: UUID) -> list[StatusEvent]:
    rows = await database.pool.fetch(
        "SELECT body FROM outbox WHERE routing_key LIKE $1 ORDER BY id", f"{tenant_id}.%"
    )
    return [event for row in rows for event in StatusBatch.model_validate_json(row["body"]).events]


async def feedback_rows(database: Database, **where: object) -> list[dict]:
    ((column, value),) = where.items()
    rows = await database.pool.fetch(f"SELECT * FROM feedback WHERE {column} = $1 ORDER BY id", value)
    return [dict(row) for row in rows]


async def audit_rows(database: Database, tenant_id: UUID) -> list[dict]:
    rows = await database.pool.fetch("SELECT * FROM audit_log WHERE tenant_id = $1 ORDER BY id", tenant_id)
    return [dict(row) for row in rows]
