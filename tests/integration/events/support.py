"""Status events as the pipeline publishes them, for the events service's tests."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from shared.contracts import (
    CampaignEvent,
    CampaignEventKind,
    Exclusion,
    FeedbackClass,
    MessageStatus,
    RoutingDecision,
    StatusBatch,
    StatusEvent,
)


def status(
    kind: MessageStatus,
    tenant_id: UUID,
    campaign_id: UUID,
    *,
    message_id: UUID | None = None,
    recipient: str = "Someone@Example.com",
    at: datetime | None = None,
    **fields,
) -> StatusEvent:
    return StatusEvent(
        status=kind,
        message_id=message_id or uuid4(),
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        run_id=UUID(int=1),
        recipient=recipient,
        occurred_at=at or datetime.now(UTC),
        **fields,
    )


def one_message_life(tenant_id: UUID, campaign_id: UUID, recipient: str) -> tuple[UUID, list[StatusBatch]]:
    """Routed (why), deferred, routed again, sent on the second attempt, then bounced: five batches."""
    message_id, first, second = uuid4(), uuid4(), uuid4()
    start = datetime.now(UTC) - timedelta(minutes=5)

    def at(seconds: int) -> datetime:
        return start + timedelta(seconds=seconds)

    common = {"message_id": message_id, "recipient": recipient}
    decision = RoutingDecision(
        mode="selection",
        weights={str(first): 1.0, str(second): 1.0},
        excluded=[Exclusion(server_id=uuid4(), reason="paused by the operator")],
    )
    statuses = [
        status(MessageStatus.ROUTED, tenant_id, campaign_id, at=at(0), server_id=first, vendor="smtp",
               decision=decision, **common),
        status(MessageStatus.DEFERRED, tenant_id, campaign_id, at=at(1), server_id=first, vendor="smtp",
               reply_code=451, reply_text="try later", retry_at=at(31), **common),
        status(MessageStatus.ROUTED, tenant_id, campaign_id, at=at(31), attempt=2, server_id=second,
               vendor="smtp", decision=decision, **common),
        status(MessageStatus.SENT, tenant_id, campaign_id, at=at(32), attempt=2, server_id=second,
               vendor="smtp", reply_code=250, **common),
        status(MessageStatus.BOUNCED, tenant_id, campaign_id, at=at(90), attempt=2, server_id=second,
               vendor="smtp", feedback_class=FeedbackClass.HARD, enhanced_code="5.1.1",
               reply_text="user unknown", **common),
    ]  # fmt: skip
    return message_id, [StatusBatch.of([one])[0] for one in statuses]


def campaign_started(tenant_id: UUID, campaign_id: UUID) -> CampaignEvent:
    return CampaignEvent(kind=CampaignEventKind.STARTED, tenant_id=tenant_id, campaign_id=campaign_id)
