"""The pruner deletes events past the retention, in bounded batches, and nothing younger."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.events.adapters.event_log import PgEventLog
from services.events.app.retention import PruneEvents
from services.events.domain.translation import events_of
from shared.contracts import MessageStatus
from tests.integration.events.support import status


async def test_events_past_the_retention_are_pruned_in_batches(events_db):
    event_log = PgEventLog(events_db)
    tenant, campaign = uuid4(), uuid4()
    now = datetime.now(UTC)
    old = [
        status(MessageStatus.SENT, tenant, campaign, at=now - timedelta(days=31, minutes=i)) for i in range(7)
    ]
    young = [status(MessageStatus.SENT, tenant, campaign, at=now - timedelta(days=29)) for _ in range(2)]
    envelopes = [event for one in [*old, *young] for event in events_of(one)]
    assert len(await event_log.append(envelopes)) == 9
    assert await event_log.append(envelopes) == set()  # idempotent: nothing new

    prune = PruneEvents(event_log, timedelta(days=30), batch_size=3, now=lambda: now)
    assert await prune() == 7  # the other tests' events are all younger
    left = await events_db.pool.fetch("SELECT event_id FROM event_log WHERE campaign_id = $1", campaign)
    assert {row["event_id"] for row in left} == {one.event_id for one in young}
