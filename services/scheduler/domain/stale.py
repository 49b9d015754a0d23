"""Messages that stopped moving: what the scheduler publishes again so that no run waits for ever.

The scheduler knows every message that is not final. One that has been quiet for longer than any
step of the pipeline should take (its send request, retry or wait was lost, say to a broker that
dropped it) is published again with its own message id: every later step is idempotent on that
id (a delivery worker that finds the message sent settles it from its record without sending),
so a copy of a message that was only slow costs a little work, never a second email.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.contracts import MessageContent, MessageStatus, SendRequested


@dataclass(frozen=True)
class StaleMessage:
    message_id: UUID
    tenant_id: UUID
    campaign_id: UUID
    run_id: UUID
    recipient: str
    recipient_name: str
    content: MessageContent
    status: str
    attempt: int

    def send_request(self, now: datetime) -> SendRequested:
        """The message as it should go through routing again (`now` starting its attempt).

        A deferred message was waiting for its next attempt, so that is what it gets; any other
        is sent again as the attempt it is in. Built without validation: every field comes from
        what the scheduler validated when it stored it (the list's recipient, the campaign's
        content), and the router validates the batch it arrives in.
        """
        deferred = self.status == MessageStatus.DEFERRED.value
        return SendRequested.model_construct(
            schema_version=1,
            message_id=self.message_id,
            tenant_id=self.tenant_id,
            campaign_id=self.campaign_id,
            run_id=self.run_id,
            recipient=self.recipient,
            recipient_name=self.recipient_name,
            content=self.content,
            attempt=self.attempt + 1 if deferred else self.attempt,
            avoid_server_ids=[],
            first_attempt_at=now,
            redelivered=False,
        )
