"""The batch contracts and the machinery that moves work in batches while handling it per recipient."""

import asyncio
from datetime import timedelta
from uuid import uuid4

import asyncpg
import pytest
from pydantic import TypeAdapter

from shared.batch_items import handle_each
from shared.batching import GroupCommit
from shared.contracts import (
    DeliveryBatch,
    DeliveryRequested,
    Exclusion,
    IncomingDeliveries,
    IncomingSends,
    IncomingStatuses,
    MessageContent,
    MessageStatus,
    RoutingDecision,
    SendBatch,
    SendRequested,
    StatusBatch,
    StatusEvent,
    deliveries_of,
    sends_of,
    status_events_of,
    utcnow,
)
from shared.messaging import MalformedMessage

CONTENT = MessageContent(from_address="news@example.com", subject="Hello", text="x" * 2000)
OTHER_CONTENT = MessageContent(from_address="news@example.com", subject="Other")


def sends(
    count: int, *, run_id=None, content=CONTENT, tenant_id=None, campaign_id=None
) -> list[SendRequested]:
    run_id, tenant_id, campaign_id = run_id or uuid4(), tenant_id or uuid4(), campaign_id or uuid4()
    return [
        SendRequested(
            message_id=uuid4(), tenant_id=tenant_id, campaign_id=campaign_id, run_id=run_id,
            recipient=f"r{n}@example.com", recipient_name=f"R {n}", content=content, attempt=1 + n % 3,
        )
        for n in range(count)
    ]  # fmt: skip


def decision(excluded: str | None = None) -> RoutingDecision:
    return RoutingDecision(
        mode="selection",
        weights={"a": 1.0, "b": 2.0},
        excluded=[Exclusion(server_id=uuid4(), reason=excluded)] if excluded else [],
    )


def test_a_send_batch_carries_the_content_once_and_gives_back_every_send_as_it_was():
    originals = sends(300)
    [batch] = SendBatch.of(originals)
    wire = batch.model_dump_json()
    assert wire.count("x" * 2000) == 1
    received = TypeAdapter(IncomingSends).validate_json(wire)
    assert sends_of(received) == originals


def test_send_batches_are_one_per_run_and_content_and_at_most_max_size():
    first, second = sends(5), sends(3)
    other_content = sends(2, run_id=first[0].run_id, content=OTHER_CONTENT)
    batches = SendBatch.of([*first, *second, *other_content, *sends(0)], max_size=2)
    assert [len(b.recipients) for b in batches] == [2, 2, 1, 2, 1, 2]
    assert [s for b in batches for s in b.sends()] == [*first, *second, *other_content]


def test_a_send_batch_validates_every_recipient():
    [batch] = SendBatch.of(sends(2))
    body = batch.model_dump(mode="json")
    body["recipients"][1]["recipient"] = "evil@example.com\r\nBcc: all@example.com"
    with pytest.raises(ValueError, match="CR, LF"):
        SendBatch.model_validate(body)
    with pytest.raises(ValueError):
        SendBatch.model_validate(body | {"recipients": []})


def test_delivery_batches_split_per_server_and_decision_and_keep_the_earliest_routing_time():
    server_a, server_b = uuid4(), uuid4()
    now = utcnow()
    batch_sends = sends(4)
    requests = [
        DeliveryRequested(send=batch_sends[0], server_id=server_a, vendor="smtp", decision=decision(), routed_at=now),
        DeliveryRequested(send=batch_sends[1], server_id=server_b, vendor="smtp", decision=decision(), routed_at=now),
        DeliveryRequested(
            send=batch_sends[2], server_id=server_a, vendor="smtp", decision=decision(),
            routed_at=now - timedelta(seconds=3),
        ),
        DeliveryRequested(
            send=batch_sends[3], server_id=server_a, vendor="smtp", decision=decision("capped"), routed_at=now
        ),
    ]  # fmt: skip
    batches = DeliveryBatch.of(requests)
    assert [(b.server_id, len(b.batch.recipients)) for b in batches] == [
        (server_a, 2),
        (server_b, 1),
        (server_a, 1),
    ]
    assert batches[0].routed_at == now - timedelta(seconds=3)
    received = TypeAdapter(IncomingDeliveries).validate_json(batches[1].model_dump_json())
    assert deliveries_of(received) == [requests[1]]


def test_status_batches_are_per_campaign_and_status_with_the_routing_key_consumers_bind():
    campaign_sends = sends(3)
    events = [s.status_event(MessageStatus.SENT) for s in campaign_sends] + [
        campaign_sends[0].status_event(MessageStatus.ROUTED, server_id=uuid4())
    ]
    batches = StatusBatch.of(events)
    assert [(b.status, len(b.events)) for b in batches] == [
        (MessageStatus.SENT, 3),
        (MessageStatus.ROUTED, 1),
    ]
    first = campaign_sends[0]
    assert batches[0].routing_key == f"{first.tenant_id}.{first.campaign_id}.sent"
    received = TypeAdapter(IncomingStatuses).validate_json(batches[0].model_dump_json())
    assert status_events_of(received) == events[:3]


def test_the_same_fact_always_has_the_same_event_id_and_another_fact_another():
    send = sends(1)[0]
    server = uuid4()
    sent = send.status_event(MessageStatus.SENT, server_id=server)
    assert send.status_event(MessageStatus.SENT, server_id=server).event_id == sent.event_id
    others = {
        send.status_event(MessageStatus.SENT, server_id=uuid4()).event_id,
        send.status_event(MessageStatus.UNKNOWN, server_id=server).event_id,
        send.status_event(MessageStatus.SENT, server_id=server, attempt=send.attempt + 1).event_id,
        send.status_event(MessageStatus.WAITING, retry_at=utcnow()).event_id,
        send.status_event(MessageStatus.WAITING, retry_at=utcnow() + timedelta(seconds=5)).event_id,
    }
    assert sent.event_id not in others and len(others) == 5


def test_single_messages_of_earlier_versions_are_still_accepted():
    send = sends(1)[0]
    assert sends_of(TypeAdapter(IncomingSends).validate_json(send.model_dump_json())) == [send]
    request = DeliveryRequested(send=send, server_id=uuid4(), vendor="smtp", decision=decision())
    assert deliveries_of(TypeAdapter(IncomingDeliveries).validate_json(request.model_dump_json())) == [
        request
    ]
    event = StatusEvent(
        status=MessageStatus.SENT, message_id=send.message_id, tenant_id=send.tenant_id,
        campaign_id=send.campaign_id, run_id=send.run_id, recipient=send.recipient,
    )  # fmt: skip
    assert status_events_of(TypeAdapter(IncomingStatuses).validate_json(event.model_dump_json())) == [event]


# --------------------------------------------------------------------------- group commit


async def test_group_commit_flushes_what_arrives_together_once_and_what_arrives_meanwhile_next():
    flushed: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await release.wait()
        return [item * 10 for item in items]

    commits: GroupCommit[int, int] = GroupCommit(flush)
    first = [asyncio.create_task(commits.submit(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(commits.submit(n)) for n in range(3, 5)]
    await asyncio.sleep(0.01)
    assert flushed == [[0, 1, 2]]
    release.set()
    assert await asyncio.gather(*first, *later) == [0, 10, 20, 30, 40]
    assert flushed == [[0, 1, 2], [3, 4]]


async def test_a_failed_flush_fails_its_callers_only():
    async def flush(items: list[int]) -> list[None]:
        if 1 in items:
            raise RuntimeError("broker said no")
        return [None] * len(items)

    commits: GroupCommit[int, None] = GroupCommit(flush)
    with pytest.raises(RuntimeError, match="broker said no"):
        await asyncio.gather(commits.submit(1), commits.submit(2))
    assert await commits.submit(3) is None


# --------------------------------------------------------------------------- handle_each


async def test_one_poisoned_item_is_dead_lettered_alone_and_the_others_are_handled_once():
    handled: list[tuple[int, bool]] = []
    dead: list[tuple[int, str]] = []

    async def handle(item: int, retry: bool) -> None:
        handled.append((item, retry))
        if item == 3:
            raise ValueError("cannot build this one")

    async def dead_letter(item: int, reason: str) -> None:
        dead.append((item, reason))

    await handle_each(list(range(6)), handle, dead_letter, pause=0)
    assert sorted(item for item, _ in handled if item != 3) == [0, 1, 2, 4, 5]
    assert [retry for item, retry in handled if item == 3] == [False, True, True]
    assert dead == [(3, "failed 3 times in its batch, last error: ValueError('cannot build this one')")]


async def test_a_malformed_item_is_dead_lettered_at_once_with_its_reason():
    dead: list[tuple[int, str]] = []

    async def handle(item: int, retry: bool) -> None:
        if item == 1:
            raise MalformedMessage("campaign belongs to another tenant")

    async def dead_letter(item: int, reason: str) -> None:
        dead.append((item, reason))

    await handle_each([0, 1, 2], handle, dead_letter)
    assert dead == [(1, "malformed message: campaign belongs to another tenant")]


async def test_a_transient_fault_is_retried_for_its_item_and_then_raised_for_the_batch(monkeypatch):
    monkeypatch.setattr("shared.batch_items.TRANSIENT_PAUSES", (0, 0))
    calls: list[int] = []

    async def handle(item: int, retry: bool) -> None:
        calls.append(item)
        if item == 1:
            raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    async def dead_letter(item: int, reason: str) -> None:
        raise AssertionError("a transient fault is no reason to dead-letter")

    with pytest.raises(asyncpg.exceptions.CannotConnectNowError):
        await handle_each([0, 1, 2], handle, dead_letter)
    assert sorted(calls) == [0, 1, 1, 1, 2]


async def test_a_transient_fault_that_passes_settles_the_batch():
    failures = iter([True, False])

    async def handle(item: int, retry: bool) -> None:
        if item == 0 and next(failures):
            raise ConnectionRefusedError("postgres restarting")

    async def dead_letter(item: int, reason: str) -> None:
        raise AssertionError(reason)

    await handle_each([0, 1], handle, dead_letter)


async def test_a_lingering_group_commit_waits_for_company_once_and_not_after():
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[None]:
        flushed.append(items)
        return [None] * len(items)

    commits: GroupCommit[int, None] = GroupCommit(flush, linger=0.05)
    first = asyncio.create_task(commits.submit(1))
    await asyncio.sleep(0.01)
    assert flushed == [] and not first.done()
    second = asyncio.create_task(commits.submit(2))
    await asyncio.gather(first, second)
    assert flushed == [[1, 2]]
