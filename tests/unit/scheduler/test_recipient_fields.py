"""A recipient's custom fields travel with it from the list into its send batch."""

from datetime import UTC, datetime
from uuid import uuid4

from services.scheduler.domain.expansion import ExpansionBatch
from services.scheduler.domain.recipients import Recipient
from shared.contracts import MessageContent


def test_expansion_carries_each_recipients_fields_into_its_batch_entry() -> None:
    batch = ExpansionBatch(
        run_id=uuid4(),
        campaign_id=uuid4(),
        tenant_id=uuid4(),
        content=MessageContent(from_address="shop@example.com", subject="Hi", text="Hello"),
        after_cursor=0,
        recipients=(
            Recipient(
                id=1, email="ann@example.com", name="Ann", fields={"first_name": "Ann", "plan": "gold"}
            ),
            Recipient(id=2, email="bob@example.com", name=""),
        ),
    )

    [send_batch] = batch.send_batches(10, first_attempt_at=datetime.now(UTC))

    assert [entry.fields for entry in send_batch.recipients] == [{"first_name": "Ann", "plan": "gold"}, {}]
    assert [send.fields for send in send_batch.sends()] == [{"first_name": "Ann", "plan": "gold"}, {}]
