"""Turning a slice of a run's recipients into send batches, with ids that survive a re-expansion."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from uuid import UUID, uuid5

from services.scheduler.domain.recipients import Recipient
from shared.contracts import (
    BatchRecipient,
    MessageContent,
    MessageStatus,
    SendBatch,
    StatusEvent,
    status_event_id,
)


def message_id_for(run_id: UUID, recipient_id: int) -> UUID:
    # Deterministic, so a batch published again after a crash carries the ids it had the first time.
    return uuid5(run_id, str(recipient_id))


@dataclass(frozen=True)
class ExpansionBatch:
    """The next recipients of a run, after the run's cursor, with what each message needs."""

    run_id: UUID
    campaign_id: UUID
    tenant_id: UUID
    content: MessageContent
    after_cursor: int
    recipients: tuple[Recipient, ...]

    @property
    def is_empty(self) -> bool:
        return not self.recipients

    @property
    def next_cursor(self) -> int:
        return self.recipients[-1].id if self.recipients else self.after_cursor

    @cached_property
    def message_ids(self) -> list[UUID]:
        """One per recipient, in order: computed once for both the publish and the record of the batch."""
        return [message_id_for(self.run_id, recipient.id) for recipient in self.recipients]

    @property
    def addresses(self) -> list[str]:
        """The recipients' addresses, as the list holds them: what the suppression check is asked about."""
        return [recipient.email for recipient in self.recipients]

    def send_batches(
        self, max_size: int, *, first_attempt_at: datetime, suppressed: Mapping[str, str] | None = None
    ) -> list[SendBatch]:
        """The recipients not `suppressed` (address → why) as `SendBatch` messages of at most
        `max_size` each, the content once in each; none when every recipient is suppressed.

        Built without validating each recipient again: addresses and names were validated on their
        way into the list (the API's `RecipientIn`), the content when it was read, and the router
        validates every batch it receives."""
        skipped = suppressed or {}
        recipients = [
            BatchRecipient.model_construct(
                message_id=message_id,
                recipient=recipient.email,
                recipient_name=recipient.name,
                fields=recipient.fields,
                attempt=1,
                avoid_server_ids=[],
                first_attempt_at=first_attempt_at,
                redelivered=False,
            )
            for message_id, recipient in zip(self.message_ids, self.recipients, strict=True)
            if recipient.email not in skipped
        ]
        return SendBatch.of_recipients(
            self.tenant_id, self.campaign_id, self.run_id, self.content, recipients, max_size=max_size
        )

    def suppressed_events(self, suppressed: Mapping[str, str], *, occurred_at: datetime) -> list[StatusEvent]:
        """A final `suppressed` event for each recipient in `suppressed` (address → why), in list order.

        Their ids are those of the fact (message, attempt 1, `suppressed`), and the message ids those
        the recipients would have been published with: a batch expanded again after a crash reports
        the same events, which consumers drop as copies."""
        return [
            StatusEvent(
                event_id=status_event_id(message_id, MessageStatus.SUPPRESSED, 1),
                status=MessageStatus.SUPPRESSED,
                message_id=message_id,
                tenant_id=self.tenant_id,
                campaign_id=self.campaign_id,
                run_id=self.run_id,
                recipient=recipient.email,
                reply_text=suppressed[recipient.email],
                occurred_at=occurred_at,
            )
            for message_id, recipient in zip(self.message_ids, self.recipients, strict=True)
            if recipient.email in suppressed
        ]
