"""Turning a slice of a run's recipients into send batches, with ids that survive a re-expansion."""

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from uuid import UUID, uuid5

from services.scheduler.domain.recipients import Recipient
from shared.contracts import BatchRecipient, MessageContent, SendBatch


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

    def send_batches(self, max_size: int, *, first_attempt_at: datetime) -> list[SendBatch]:
        """The recipients as `SendBatch` messages of at most `max_size` each, the content once in each.

        Built without validating each recipient again: addresses and names were validated on their
        way into the list (the API's `RecipientIn`), the content when it was read, and the router
        validates every batch it receives."""
        recipients = [
            BatchRecipient.model_construct(
                message_id=message_id,
                recipient=recipient.email,
                recipient_name=recipient.name,
                attempt=1,
                avoid_server_ids=[],
                first_attempt_at=first_attempt_at,
                redelivered=False,
            )
            for message_id, recipient in zip(self.message_ids, self.recipients, strict=True)
        ]
        return SendBatch.of_recipients(
            self.tenant_id, self.campaign_id, self.run_id, self.content, recipients, max_size=max_size
        )
