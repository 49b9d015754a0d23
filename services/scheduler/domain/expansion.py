"""Turning a slice of a run's recipients into send requests, with ids that survive a re-expansion."""

from dataclasses import dataclass
from uuid import UUID, uuid5

from services.scheduler.domain.recipients import Recipient
from shared.contracts import MessageContent, SendRequested


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

    def send_requests(self) -> list[SendRequested]:
        return [
            SendRequested(
                message_id=message_id_for(self.run_id, recipient.id),
                tenant_id=self.tenant_id,
                campaign_id=self.campaign_id,
                run_id=self.run_id,
                recipient=recipient.email,
                recipient_name=recipient.name,
                content=self.content,
            )
            for recipient in self.recipients
        ]
