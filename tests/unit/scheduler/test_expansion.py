"""The expansion use case against in-memory fakes of its store and publisher."""

import asyncio
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

from services.scheduler.app.expansion import Expander, ExpansionSupervisor
from services.scheduler.app.ports import ExpansionLease
from services.scheduler.domain.campaign import RunState
from services.scheduler.domain.expansion import ExpansionBatch
from services.scheduler.domain.recipients import Recipient
from shared.contracts import BatchRecipient, MessageContent, SendBatch, StatusEvent
from shared.suppression import SuppressionUnavailable

LEASE = ExpansionLease(holder="scheduler-test", seconds=15)
CONTENT = MessageContent(from_address="news@shop.example", subject="Spring sale")


class FakeStore:
    """One run over `size` recipients, with the states the database would keep."""

    def __init__(self, size: int) -> None:
        self.run_id, self.campaign_id, self.tenant_id = uuid4(), uuid4(), uuid4()
        self.recipients = [Recipient(id, f"user{id}@example.com", "") for id in range(1, size + 1)]
        self.cursor = 0
        self.state = RunState.EXPANDING if size else RunState.EXPANDED
        self.campaign_running = True
        self.recorded: list[list[UUID]] = []
        self.suppressed: list[StatusEvent] = []
        """The `suppressed` events recorded with their batches (into the outbox, in the real store)."""
        self.after_seen_stopped: Callable[[], None] = lambda: None
        self.leases: list[str] = []
        self.released: list[str] = []
        self.renewals = 0
        self.expanded = asyncio.Event()
        """Set once the run is fully expanded."""

    @asynccontextmanager
    async def transaction(self):
        yield self

    async def next_expansion_batch(
        self, run_id: UUID, limit: int, lease: ExpansionLease
    ) -> ExpansionBatch | None:
        self.leases.append(lease.holder)
        if not self.campaign_running:
            self.after_seen_stopped()
            return None
        if self.state is not RunState.EXPANDING:
            return None
        after = [recipient for recipient in self.recipients if recipient.id > self.cursor]
        return ExpansionBatch(
            run_id, self.campaign_id, self.tenant_id, CONTENT, self.cursor, tuple(after[:limit])
        )

    async def record_expansion(self, batch: ExpansionBatch, suppressed: Sequence[StatusEvent]) -> RunState:
        assert batch.after_cursor == self.cursor
        self.recorded.append(list(batch.message_ids))
        self.suppressed.extend(suppressed)
        self.cursor = batch.next_cursor
        if self.cursor >= self.recipients[-1].id:
            self._finish()
        return self.state

    async def finish_expansion(self, run_id: UUID) -> None:
        self._finish()

    def _finish(self) -> None:
        self.state = RunState.EXPANDED
        self.expanded.set()

    async def renew_expansion(self, run_id: UUID, lease: ExpansionLease) -> bool:
        self.renewals += 1
        return self.campaign_running and self.state is RunState.EXPANDING

    async def release_expansion(self, run_id: UUID, holder: str) -> None:
        self.released.append(holder)

    async def runs_to_expand(self) -> list[UUID]:
        return [self.run_id] if self.state is RunState.EXPANDING and self.campaign_running else []


class FakePublisher:
    def __init__(self, before_publish: Callable[[int], None] = lambda attempt: None) -> None:
        """`before_publish` gets the number of messages whose publish was attempted before this one, and may raise."""
        self.batches: list[SendBatch] = []
        self.attempts = 0
        self.before_publish = before_publish

    @property
    def published(self) -> list[BatchRecipient]:
        """Every recipient published, in order."""
        return [recipient for batch in self.batches for recipient in batch.recipients]

    async def publish_batches(self, batches: Sequence[SendBatch]) -> None:
        await asyncio.gather(*(self._publish(batch) for batch in batches))

    async def _publish(self, batch: SendBatch) -> None:
        self.attempts += 1
        self.before_publish(self.attempts - 1)
        await asyncio.sleep(0)  # let the batch's other publishes start, as confirms would
        self.batches.append(batch)


class FakeCompletion:
    def __init__(self) -> None:
        self.checked: list[UUID] = []

    async def check(self, run_ids) -> None:
        self.checked.extend(run_ids)


class FakeSuppressionList:
    """The bounces service's answer: `suppressed` (address → why) of the tenant; `down` raises as no answer does."""

    def __init__(self, suppressed: dict[str, str] | None = None) -> None:
        self.list = suppressed or {}
        self.asked: list[list[str]] = []
        self.down = False

    async def suppressed(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        if self.down:
            raise SuppressionUnavailable("no answer to a suppression check within 10s")
        self.asked.append(list(addresses))
        return {address: self.list[address] for address in addresses if address in self.list}


def _expander(
    store: FakeStore,
    publisher: FakePublisher,
    completion: FakeCompletion,
    batch_size: int = 4,
    send_batch_size: int = 2,
    suppression: FakeSuppressionList | None = None,
):
    return Expander(
        store,
        publisher,
        completion,
        suppression or FakeSuppressionList(),
        batch_size=batch_size,
        send_batch_size=send_batch_size,
        lease=LEASE,
    )


async def test_a_run_is_published_and_recorded_batch_by_batch_then_checked_for_completion():
    store, publisher, completion = FakeStore(10), FakePublisher(), FakeCompletion()

    await _expander(store, publisher, completion).expand(store.run_id)

    assert [len(batch) for batch in store.recorded] == [4, 4, 2]
    assert store.leases == ["scheduler-test"] * 3, "the lease is renewed with every batch"
    assert store.released == ["scheduler-test"], "and released at the end"
    assert [recipient.recipient for recipient in publisher.published] == [
        f"user{i}@example.com" for i in range(1, 11)
    ]
    assert sum(store.recorded, []) == [recipient.message_id for recipient in publisher.published]
    # Each expansion batch of 4 went out as messages of at most 2 recipients, the content in each.
    assert [len(batch.recipients) for batch in publisher.batches] == [2, 2, 2, 2, 2]
    assert {
        (batch.run_id, batch.campaign_id, batch.tenant_id, batch.content) for batch in publisher.batches
    } == {(store.run_id, store.campaign_id, store.tenant_id, CONTENT)}
    assert store.state is RunState.EXPANDED
    assert completion.checked == [store.run_id]


async def test_an_expansion_batch_is_published_in_send_batches_of_the_configured_size():
    store, publisher, completion = FakeStore(10), FakePublisher(), FakeCompletion()

    await _expander(store, publisher, completion, batch_size=10, send_batch_size=4).expand(store.run_id)

    assert [len(batch.recipients) for batch in publisher.batches] == [4, 4, 2]
    assert [len(batch) for batch in store.recorded] == [10]
    # Published (the router validates what it receives) exactly as a batch that validates.
    for batch in publisher.batches:
        assert SendBatch.model_validate_json(batch.model_dump_json()) == batch


async def test_expansion_halts_at_the_batch_boundary_after_the_campaign_stops():
    store, completion = FakeStore(10), FakeCompletion()

    def stop_during_second_batch(attempt: int) -> None:
        if attempt == 3:  # the second message of the second batch
            store.campaign_running = False

    await _expander(store, FakePublisher(stop_during_second_batch), completion).expand(store.run_id)

    assert [len(batch) for batch in store.recorded] == [4, 4]  # the batch in flight is still recorded
    assert store.state is RunState.EXPANDING
    assert completion.checked == []

    store.campaign_running = True
    await _expander(store, FakePublisher(), completion).expand(store.run_id)

    assert [len(batch) for batch in store.recorded] == [4, 4, 2]
    assert completion.checked == [store.run_id]


async def test_a_failed_publish_records_nothing_and_the_supervisor_publishes_the_batch_again():
    store, completion = FakeStore(8), FakeCompletion()
    failures = iter([True])

    def fail_once_in_second_batch(attempt: int) -> None:
        if attempt == 3 and next(failures, False):  # the second batch's second message; its first went out
            raise ConnectionError("broker went away")

    publisher = FakePublisher(fail_once_in_second_batch)
    supervisor = ExpansionSupervisor(_expander(store, publisher, completion), store, retry_pause=0.01)

    await supervisor.start_unfinished()
    await asyncio.wait_for(store.expanded.wait(), timeout=2.0)

    assert [len(batch) for batch in store.recorded] == [4, 4]
    ids = [recipient.message_id for recipient in publisher.published]
    assert len(set(ids)) == 8
    assert len(ids) == 10
    assert ids[4:6] == ids[6:8], "the second batch went out again, with the same ids"
    assert sum(store.recorded, []) == ids[:4] + ids[6:]
    assert completion.checked == [store.run_id]
    await supervisor.stop()


async def test_a_resume_racing_the_pass_that_saw_the_stop_gets_another_pass():
    store, completion = FakeStore(8), FakeCompletion()
    store.campaign_running = False
    supervisor = ExpansionSupervisor(_expander(store, FakePublisher(), completion), store, retry_pause=0.01)

    def resume_once() -> None:  # the campaign is resumed while the pass is about to give up
        store.after_seen_stopped = lambda: None
        store.campaign_running = True
        supervisor.start(store.run_id)

    store.after_seen_stopped = resume_once
    supervisor.start(store.run_id)
    await asyncio.wait_for(store.expanded.wait(), timeout=2.0)

    assert [len(batch) for batch in store.recorded] == [4, 4]
    await supervisor.stop()
