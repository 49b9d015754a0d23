"""Suppressed recipients at expansion, against in-memory fakes: skipped, recorded final, reported once."""

import asyncio
import json
from uuid import UUID, uuid4

import pytest
from aiormq.exceptions import ChannelClosed, ChannelInvalidStateError

from services.scheduler.app.expansion import ExpansionSupervisor
from services.scheduler.domain.campaign import RunState
from services.scheduler.domain.expansion import ExpansionBatch, message_id_for
from services.scheduler.domain.recipients import Recipient
from shared.contracts import MessageContent, MessageStatus, StatusBatch, status_event_id, utcnow
from shared.suppression import SuppressionClient, SuppressionUnavailable, address_chunks
from tests.unit.scheduler.test_expansion import (
    FakeCompletion,
    FakePublisher,
    FakeStore,
    FakeSuppressionList,
    _expander,
)

CONTENT = MessageContent(from_address="news@shop.example", subject="Spring sale")


async def test_suppressed_recipients_are_not_published_and_are_recorded_with_their_reasons():
    store, publisher, completion = FakeStore(10), FakePublisher(), FakeCompletion()
    suppression = FakeSuppressionList(
        {"user2@example.com": "hard bounce: 550 5.1.1 no such user", "user7@example.com": "complaint"}
    )

    await _expander(store, publisher, completion, suppression=suppression).expand(store.run_id)

    assert len(suppression.asked) == 3, "asked once per expansion batch, never per recipient"
    assert suppression.asked[0] == [f"user{i}@example.com" for i in range(1, 5)]
    published = [recipient.recipient for recipient in publisher.published]
    assert "user2@example.com" not in published and "user7@example.com" not in published
    assert len(published) == 8
    assert len(sum(store.recorded, [])) == 10, "the suppressed are recorded with their batch"
    assert [(event.recipient, event.status, event.reply_text) for event in store.suppressed] == [
        ("user2@example.com", MessageStatus.SUPPRESSED, "hard bounce: 550 5.1.1 no such user"),
        ("user7@example.com", MessageStatus.SUPPRESSED, "complaint"),
    ]
    for event in store.suppressed:
        # The id the recipient would have been published with, and the fact's own event id.
        assert event.message_id == message_id_for(store.run_id, int(event.recipient[4]))
        assert event.event_id == status_event_id(event.message_id, MessageStatus.SUPPRESSED, 1)
        assert (event.tenant_id, event.campaign_id, event.run_id) == (
            store.tenant_id,
            store.campaign_id,
            store.run_id,
        )
    assert completion.checked == [store.run_id]


async def test_a_batch_whose_recipients_are_all_suppressed_publishes_nothing_and_the_run_completes():
    store, publisher, completion = FakeStore(3), FakePublisher(), FakeCompletion()
    suppression = FakeSuppressionList({f"user{i}@example.com": "global: spam trap" for i in range(1, 4)})

    await _expander(store, publisher, completion, suppression=suppression).expand(store.run_id)

    assert publisher.attempts == 0
    assert len(store.suppressed) == 3
    assert store.state is RunState.EXPANDED
    assert completion.checked == [store.run_id]


async def test_no_answer_from_the_bounces_service_publishes_nothing_and_the_expansion_waits_for_it():
    store, publisher, completion = FakeStore(8), FakePublisher(), FakeCompletion()
    suppression = FakeSuppressionList({"user5@example.com": "unsubscribed"})
    suppression.down = True
    supervisor = ExpansionSupervisor(
        _expander(store, publisher, completion, suppression=suppression), store, retry_pause=0.01
    )

    await supervisor.start_unfinished()
    await asyncio.sleep(0.1)
    assert publisher.attempts == 0 and store.recorded == [], "never taken as 'nothing suppressed'"
    assert store.state is RunState.EXPANDING

    suppression.down = False
    await asyncio.wait_for(store.expanded.wait(), timeout=2.0)
    assert [recipient.recipient for recipient in publisher.published].count("user5@example.com") == 0
    assert [event.recipient for event in store.suppressed] == ["user5@example.com"]
    await supervisor.stop()


async def test_a_campaign_stopped_while_its_batch_was_being_checked_publishes_nothing_of_it():
    store, publisher, completion = FakeStore(8), FakePublisher(), FakeCompletion()

    class StoppedDuringTheCheck(FakeSuppressionList):
        async def suppressed(self, tenant_id, addresses):
            store.campaign_running = False  # or the lease ran out and another replica took the run
            return await super().suppressed(tenant_id, addresses)

    await _expander(store, publisher, completion, suppression=StoppedDuringTheCheck()).expand(store.run_id)

    assert publisher.attempts == 0 and store.recorded == []
    assert store.renewals == 1
    assert completion.checked == []


def test_a_batch_expanded_again_reports_the_same_suppressed_events():
    run_id = uuid4()
    recipients = tuple(Recipient(i, f"user{i}@example.com", "") for i in range(1, 4))
    batch = ExpansionBatch(run_id, uuid4(), uuid4(), CONTENT, 0, recipients)
    again = ExpansionBatch(run_id, batch.campaign_id, batch.tenant_id, CONTENT, 0, recipients)
    suppressed = {"user3@example.com": "hard bounce"}

    first = batch.suppressed_events(suppressed, occurred_at=utcnow())
    second = again.suppressed_events(suppressed, occurred_at=utcnow())

    assert [event.event_id for event in first] == [event.event_id for event in second]
    assert [
        recipient.recipient
        for sent in batch.send_batches(2, first_attempt_at=utcnow(), suppressed=suppressed)
        for recipient in sent.recipients
    ] == ["user1@example.com", "user2@example.com"]
    # Each status batch of the outbox stays within the contract's bound.
    [status_batch] = StatusBatch.of(first)
    assert StatusBatch.model_validate_json(status_batch.model_dump_json()) == status_batch


def test_addresses_are_asked_about_in_requests_of_at_most_a_thousand():
    addresses = [f"user{i}@example.com" for i in range(2500)]

    chunks = list(address_chunks(addresses))

    assert [len(chunk) for chunk in chunks] == [1000, 1000, 500]
    assert [address for chunk in chunks for address in chunk] == addresses


class FakeRpc:
    """`shared.rpc.RpcClient` as the client uses it: answers each request with `answer(request)`."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[dict] = []

    async def request(
        self, body: bytes, *, queue: str, timeout: float, expiration: float | None = None
    ) -> bytes:
        assert queue == "bounces.rpc"
        request = json.loads(body)
        self.requests.append(request)
        return await self.answer(request)


async def test_the_client_splits_a_long_list_and_merges_the_answers():
    async def answer(request: dict) -> bytes:
        return json.dumps(
            {
                "suppressed": {
                    address: "hard" for address in request["addresses"] if address.endswith("7@x.org")
                }
            }
        ).encode()

    rpc = FakeRpc(answer)
    tenant = uuid4()
    addresses = [f"u{i}@x.org" for i in range(2300)]

    suppressed = await SuppressionClient(rpc, timeout_seconds=1).suppressed(tenant, addresses)  # type: ignore[arg-type]

    assert [len(request["addresses"]) for request in rpc.requests] == [1000, 1000, 300]
    assert {request["tenant_id"] for request in rpc.requests} == {str(tenant)}
    assert {request["kind"] for request in rpc.requests} == {"suppression_check"}
    assert suppressed == {address: "hard" for address in addresses if address.endswith("7@x.org")}


async def test_an_answer_naming_addresses_not_asked_about_suppresses_only_those_asked():
    async def answer(request: dict) -> bytes:
        return json.dumps({"suppressed": {"a@x.org": "hard", "someone-else@y.org": "hard"}}).encode()

    suppressed = await SuppressionClient(FakeRpc(answer), timeout_seconds=1).suppressed(  # type: ignore[arg-type]
        uuid4(), ["a@x.org", "b@x.org"]
    )

    assert suppressed == {"a@x.org": "hard"}


async def _times_out(request: dict) -> bytes:
    raise TimeoutError


async def _not_delivered(request: dict) -> bytes:
    raise ChannelInvalidStateError("nothing consumes bounces.rpc")


async def _channel_closed(request: dict) -> bytes:
    raise ChannelClosed(404, "NOT_FOUND")


async def _error_reply(request: dict) -> bytes:
    return b'{"error": "database unavailable"}'


async def _garbage(request: dict) -> bytes:
    return b"\x00not json"


async def _wrong_shape(request: dict) -> bytes:
    return b'{"suppressed": ["a@x.org"]}'


@pytest.mark.parametrize(
    "answer", [_times_out, _not_delivered, _channel_closed, _error_reply, _garbage, _wrong_shape]
)
async def test_anything_but_a_valid_answer_is_a_transient_fault_never_nothing_suppressed(answer):
    client = SuppressionClient(FakeRpc(answer), timeout_seconds=1)  # type: ignore[arg-type]

    with pytest.raises(SuppressionUnavailable):
        await client.suppressed(uuid4(), ["a@x.org"])


async def test_no_addresses_asks_nothing():
    rpc = FakeRpc(_times_out)

    assert await SuppressionClient(rpc, timeout_seconds=1).suppressed(UUID(int=1), []) == {}  # type: ignore[arg-type]
    assert rpc.requests == []
