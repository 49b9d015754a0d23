"""Status folding and the stale-message sweep against in-memory fakes: what each writes and publishes."""

import asyncio
from collections import Counter
from collections.abc import Sequence
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

from services.scheduler.app.stale import StaleMessageSweeper
from services.scheduler.app.statuses import StatusFolding
from services.scheduler.domain.stale import StaleMessage
from shared.contracts import MessageContent, MessageStatus, SendBatch, SendRequested, StatusEvent, utcnow

CONTENT = MessageContent(from_address="news@shop.example", subject="Spring sale")


class FakeStore:
    def __init__(self, stale: list[StaleMessage] | None = None) -> None:
        self.writes: list[list[StatusEvent]] = []
        self.feedback: list[list[StatusEvent]] = []
        self.transactions = 0
        self.stale = stale or []

    @asynccontextmanager
    async def transaction(self):
        self.transactions += 1
        yield self

    async def record_statuses(self, events: Sequence[StatusEvent]) -> set[UUID]:
        self.writes.append(list(events))
        return {event.run_id for event in events if event.status is MessageStatus.SENT}

    async def record_feedback(self, events: Sequence[StatusEvent]) -> None:
        self.feedback.append(list(events))

    async def claim_stale_messages(self, *, quiet_seconds, routed_quiet_seconds, limit) -> list[StaleMessage]:
        claimed, self.stale = self.stale[:limit], self.stale[limit:]
        return claimed


class FakeCompletion:
    def __init__(self) -> None:
        self.checked: list[set[UUID]] = []

    async def check(self, run_ids) -> None:
        self.checked.append(set(run_ids))


class FakeMetrics:
    def __init__(self) -> None:
        self.folded: Counter[str] = Counter()
        self.resent = 0

    def statuses_folded(self, per_status) -> None:
        self.folded.update(per_status)

    def stale_messages_resent(self, count: int) -> None:
        self.resent += count


def sends(count: int, run_id: UUID | None = None) -> list[SendRequested]:
    run_id = run_id or uuid4()
    tenant_id, campaign_id = uuid4(), uuid4()
    return [
        SendRequested(
            message_id=uuid4(),
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            run_id=run_id,
            recipient=f"user{i}@example.com",
            content=CONTENT,
        )
        for i in range(count)
    ]


def folding(store: FakeStore, *, max_items: int = 500) -> tuple[StatusFolding, FakeCompletion, FakeMetrics]:
    completion, metrics = FakeCompletion(), FakeMetrics()
    return StatusFolding(store, completion, metrics, max_items=max_items, max_wait=0.01), completion, metrics


async def test_a_status_batch_is_folded_in_one_write_with_the_batches_in_hand_at_the_same_time():
    store = FakeStore()
    statuses, completion, metrics = folding(store)
    first, second = sends(300), sends(200)

    await asyncio.gather(
        statuses.record_many([send.status_event(MessageStatus.ROUTED) for send in first]),
        statuses.record_many([send.status_event(MessageStatus.SENT) for send in second]),
    )

    assert [len(write) for write in store.writes] == [500]
    assert metrics.folded == {"routed": 300, "sent": 200}
    assert completion.checked == [{second[0].run_id}]


async def test_a_flush_larger_than_a_write_is_written_in_several_each_message_once():
    store = FakeStore()
    statuses, _, metrics = folding(store, max_items=100)
    batch = sends(250)
    events = [send.status_event(MessageStatus.ROUTED) for send in batch] + [
        send.status_event(MessageStatus.SENT) for send in batch
    ]

    await statuses.record_many(events)

    assert [len(write) for write in store.writes] == [100, 100, 50]
    written = [event for write in store.writes for event in write]
    assert sorted(event.message_id for event in written) == sorted(send.message_id for send in batch)
    assert {event.status for event in written} == {MessageStatus.SENT}, "the latest event of each message"
    assert metrics.folded == {"routed": 250, "sent": 250}


async def test_feedback_is_counted_beside_the_states_in_one_write_never_folded_into_them():
    store = FakeStore()
    statuses, completion, metrics = folding(store)
    first, second = sends(2)
    bounced, complained = (
        first.status_event(MessageStatus.BOUNCED),
        second.status_event(MessageStatus.COMPLAINED),
    )

    await asyncio.gather(
        statuses.record_many([bounced, complained]),
        statuses.record_many([first.status_event(MessageStatus.SENT)]),
    )
    await statuses.record_many([])

    assert [[event.status for event in write] for write in store.writes] == [[MessageStatus.SENT]]
    assert store.feedback == [[bounced, complained]], "one statement for the flush's feedback"
    assert metrics.folded == {"sent": 1, "bounced": 1, "complained": 1}


async def test_stale_messages_are_published_again_in_send_batches_per_run():
    tenant, campaign, run_a, run_b = uuid4(), uuid4(), uuid4(), uuid4()
    stale = [
        StaleMessage(uuid4(), tenant, campaign, run_a, f"a{i}@example.com", "", CONTENT, "routed", 1)
        for i in range(5)
    ] + [StaleMessage(uuid4(), tenant, campaign, run_b, "b@example.com", "B", CONTENT, "deferred", 2)]
    published: list[SendBatch] = []

    class Publisher:
        async def publish_batches(self, batches: Sequence[SendBatch]) -> None:
            published.extend(batches)

    metrics = FakeMetrics()
    sweeper = StaleMessageSweeper(
        FakeStore(stale), Publisher(), metrics, quiet_seconds=1, routed_quiet_seconds=1, send_batch_size=3
    )

    assert await sweeper.sweep() == 6

    assert [(batch.run_id, len(batch.recipients)) for batch in published] == [
        (run_a, 3),
        (run_a, 2),
        (run_b, 1),
    ]
    retried = published[-1].recipients[0]
    assert (retried.recipient, retried.recipient_name, retried.attempt) == ("b@example.com", "B", 3)
    assert all(SendBatch.model_validate_json(batch.model_dump_json()) == batch for batch in published)
    assert metrics.resent == 6


def test_a_stale_message_goes_through_routing_again_as_a_valid_send_request():
    message = StaleMessage(uuid4(), uuid4(), uuid4(), uuid4(), "ann@example.com", "Ann", CONTENT, "queued", 1)
    now = utcnow()

    request = message.send_request(now)

    assert SendRequested.model_validate_json(request.model_dump_json()) == request
    assert (request.attempt, request.first_attempt_at, request.avoid_server_ids) == (1, now, [])
