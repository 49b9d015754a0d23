"""The keyset cursor, and the events service's use cases over fakes of the log and the exchange."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.events.app.ingest import RecordEvents
from services.events.app.retention import PruneEvents
from services.events.app.timelines import Timelines
from services.events.domain.cursor import CURSOR_MAX_LENGTH, Position, decode_cursor, encode_cursor
from services.events.domain.translation import events_of
from shared.contracts import MessageStatus, StatusBatch, StatusEvent
from shared.errors import NotFound


def test_a_cursor_names_the_position_it_was_made_of():
    position = Position(datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC), uuid4())
    cursor = encode_cursor(position)
    assert len(cursor) <= CURSOR_MAX_LENGTH
    assert decode_cursor(cursor) == position


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "x",
        "!!!!",
        "a" * 200,
        encode_cursor(Position(datetime(2026, 1, 1, tzinfo=UTC), uuid4()))[:-3],
        "MjAyNi0wMS0wMVQwMDowMDowMHxub3QtYS11dWlk",
    ],  # fmt: skip
)
def test_anything_else_is_refused(hostile):
    with pytest.raises(ValueError):
        decode_cursor(hostile)


def sent_events(count: int, campaign=None):
    tenant, campaign = uuid4(), campaign or uuid4()
    statuses = [
        StatusEvent(
            status=MessageStatus.SENT,
            message_id=uuid4(),
            tenant_id=tenant,
            campaign_id=campaign,
            run_id=uuid4(),
            recipient=f"r{index}@example.com",
        )
        for index in range(count)
    ]
    return events_of(StatusBatch.of(statuses)[0])


class FakeLog:
    def __init__(self):
        self.kept: dict = {}
        self.calls: list[str] = []

    async def append(self, events):
        self.calls.append("append")
        new = {e.event_id for e in events if e.event_id not in self.kept}
        self.kept.update({e.event_id: e for e in events})
        return new


class FakePublisher:
    def __init__(self, log: FakeLog, fail: bool = False):
        self.batches = []
        self._log, self._fail = log, fail

    async def publish(self, batch):
        self._log.calls.append("publish")
        if self._fail:
            raise ConnectionError("broker away")
        self.batches.append(batch)


async def test_events_are_logged_before_they_are_published_and_copies_are_published_once():
    log = FakeLog()
    publisher = FakePublisher(log)
    record = RecordEvents(log, publisher)
    events = sent_events(3)
    assert await record([*events, events[0]], redelivered=False) == 3  # a copy within the delivery too
    assert log.calls == ["append", "publish"]
    assert [e.event_id for e in publisher.batches[0].events] == [e.event_id for e in events]
    # The platform published the same facts again: logged already, nothing more on the stream.
    assert await record(events[:2], redelivered=False) == 0
    # A redelivery: the delivery before may have died between the log and the publish.
    assert await record(events, redelivered=True) == 3
    assert len(publisher.batches) == 2


async def test_a_failed_publish_fails_the_delivery_after_the_log():
    log = FakeLog()
    record = RecordEvents(log, FakePublisher(log, fail=True))
    with pytest.raises(ConnectionError):
        await record(sent_events(2), redelivered=False)
    assert log.calls == ["append", "publish"] and len(log.kept) == 2


async def test_a_message_or_campaign_without_events_is_not_found():
    class EmptyLog:
        async def message_events(self, message_id, tenant_id, limit):
            return []

        async def campaign_events(self, *args, **kwargs):
            return []

        async def campaign_known(self, campaign_id, tenant_id):
            return False

    timelines = Timelines(EmptyLog())
    with pytest.raises(NotFound):
        await timelines.of_message(uuid4(), uuid4())
    with pytest.raises(NotFound):
        await timelines.of_campaign(uuid4(), uuid4(), limit=10)


async def test_pruning_goes_on_batch_after_batch_until_none_is_left():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    asked = []

    class OldEvents:
        left = 25

        async def prune(self, older_than, batch_size):
            asked.append(older_than)
            deleted = min(self.left, batch_size)
            self.left -= deleted
            return deleted

    prune = PruneEvents(OldEvents(), timedelta(days=30), batch_size=10, now=lambda: now)
    assert await prune() == 25
    assert asked == [now - timedelta(days=30)] * 3
