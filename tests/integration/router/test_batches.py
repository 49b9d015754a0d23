"""Batches of recipients through a router replica, against real RabbitMQ and PostgreSQL: a batch
travels as one message, but every recipient is routed, capped, weighed and dead-lettered on its
own, and none is lost or routed twice."""

from collections import Counter
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from scipy.stats import chisquare

from shared.contracts import SendBatch, SendingLimits, SendRequested, ServerState, ServerView
from shared.metrics import REGISTRY
from shared.topology import delay_queue, delay_step_within
from tests.integration.router.harness import FakeCatalog, Traffic, eventually, message_of, per_recipient

TENANT = uuid4()


def server(name: str, limits: SendingLimits | None = None) -> ServerView:
    return ServerView(
        id=uuid4(),
        tenant_id=TENANT,
        name=name,
        type="smtp",
        vendor="smtp",
        state=ServerState.ACTIVE,
        limits=limits or SendingLimits(),
    )


def campaign_messages(campaign: UUID, count: int) -> list[SendRequested]:
    return [message_of(TENANT, campaign, f"reader{i}@inbox.example") for i in range(count)]


def ids(messages) -> list[str]:
    return [str(m.message_id) for m in messages]


async def test_a_batch_larger_than_the_cap_is_split_between_the_server_and_the_wait_queue(stack):
    capped = server("capped", SendingLimits(per_minute=7))
    campaign, traffic = uuid4(), Traffic()
    messages = campaign_messages(campaign, 20)
    async with (
        stack.listening() as heard,
        stack.replica(FakeCatalog(capped), traffic),
    ):
        await stack.publish_sends(messages)  # one SendBatch of 20
        await heard.at_least(7, "routed")
        await heard.at_least(13, "waiting")

    routed = per_recipient(await stack.deliveries(capped))
    # The capacity comes back a minute after the slot the last send was counted in: the messages
    # wait in the longest wait queue that ends by then.
    step = delay_step_within(60)
    waiting = [send for body in await stack.queued(delay_queue(step).name) for send in body.sends()]

    routed_ids = [str(r.send.message_id) for r in routed]
    waiting_ids = [str(s.message_id) for s in waiting]
    assert len(routed_ids) == 7 and len(set(routed_ids)) == 7
    assert len(waiting_ids) == 13 and len(set(waiting_ids)) == 13
    assert sorted(routed_ids + waiting_ids) == sorted(ids(messages)), "each recipient in one place, once"
    assert {r.server_id for r in routed} == {capped.id} and all(r.counted for r in routed)
    # What the statuses say is where each recipient is.
    assert sorted(e["message_id"] for e in heard.of("routed")) == sorted(routed_ids)
    assert sorted(e["message_id"] for e in heard.of("waiting")) == sorted(waiting_ids)
    for event in heard.of("waiting"):
        waits = datetime.fromisoformat(event["retry_at"]) - datetime.fromisoformat(event["occurred_at"])
        # `retry_at` is the routing's start plus the step; the event is made after the recipient's
        # turn at the capacity lock, which the recipients before it spent claiming.
        assert timedelta(seconds=step - 5) < waits <= timedelta(seconds=step)
        assert "7 per minute" in event["decision"]["excluded"][0]["reason"]
    assert sorted(str(m) for m in traffic.routed) == sorted(routed_ids)


async def test_weights_hold_for_recipients_routed_in_batches(stack):
    servers = [server("one"), server("two"), server("seven")]
    weights = dict(zip((s.id for s in servers), (1.0, 2.0, 7.0), strict=True))
    catalog, campaign, traffic = FakeCatalog(*servers), uuid4(), Traffic()
    catalog.select(campaign, weights)
    messages = campaign_messages(campaign, 3000)
    async with (
        stack.listening() as heard,
        stack.replica(catalog, traffic),
    ):
        await stack.publish_sends(messages, batch_size=500)
        await heard.at_least(3000, "routed", timeout_seconds=90)

    batches = {s.id: await stack.deliveries(s) for s in servers}
    routed = {server_id: per_recipient(found) for server_id, found in batches.items()}
    all_ids = [str(r.send.message_id) for found in routed.values() for r in found]
    assert sorted(all_ids) == sorted(ids(messages)), "every recipient routed once"
    for server_id, found in routed.items():
        assert {r.server_id for r in found} == {server_id}
        assert all(r.decision.mode == "selection" for r in found)

    observed = [len(routed[s.id]) for s in servers]
    expected = [3000 * w / 10 for w in weights.values()]
    assert chisquare(observed, expected).pvalue > 0.001, (observed, expected)
    # They travelled in batches: far fewer broker messages than recipients, on either side.
    assert sum(len(found) for found in batches.values()) <= 300
    assert len(heard.batches) <= 300
    assert Counter(e["message_id"] for e in heard.of("routed")) == Counter(all_ids)


async def test_a_recipient_that_cannot_be_routed_is_dead_lettered_alone(stack):
    relay = server("relay")
    campaign, traffic = uuid4(), Traffic()
    messages = campaign_messages(campaign, 10)
    poisoned = messages[3]
    failed = {"service": "router", "reason_kind": "failed"}
    dead_before = REGISTRY.get_sample_value("sendpool_dead_letters_total", failed) or 0.0
    async with (
        stack.listening() as heard,
        stack.replica(FakeCatalog(relay), traffic) as replica,
    ):
        replica.outbound.fail_route = lambda request: request.send.message_id == poisoned.message_id
        await stack.publish_sends(messages)  # one SendBatch of 10
        await heard.at_least(9, "routed")
        await eventually(
            lambda: stack.queue_length("sendpool.dead"), what="the poisoned recipient dead-lettered"
        )

    [(reason, body)] = await stack.dead_letters()
    dead = SendBatch.model_validate_json(body)
    assert [s.message_id for s in dead.sends()] == [poisoned.message_id], "dead-lettered alone"
    assert dead.content == poisoned.content and dead.run_id == poisoned.run_id
    assert "failed 3 times in its batch" in reason and "cannot route reader3@inbox.example" in reason
    assert REGISTRY.get_sample_value("sendpool_dead_letters_total", failed) == dead_before + 1

    others = sorted(ids(m for m in messages if m is not poisoned))
    routed = per_recipient(await stack.deliveries(relay))
    assert sorted(str(r.send.message_id) for r in routed) == others, "the others routed, once each"
    assert sorted(e["message_id"] for e in heard.of("routed")) == others
    assert sorted(str(m) for m in traffic.routed) == others


async def test_recipients_of_a_campaign_of_another_tenant_are_dead_lettered_at_once(stack):
    """A message may never borrow another tenant's policy: each recipient is refused as malformed,
    at once (it would fail the same way however often it was tried), while other batches go on."""
    relay = server("relay")
    catalog, borrowed, own, traffic = FakeCatalog(relay), uuid4(), uuid4(), Traffic()
    catalog.owned_by(borrowed, uuid4())
    refused, accepted = campaign_messages(borrowed, 3), campaign_messages(own, 2)
    async with (
        stack.listening() as heard,
        stack.replica(catalog, traffic),
    ):
        await stack.publish_sends(refused + accepted)  # a batch per campaign
        await heard.at_least(2, "routed")

        async def three_dead_letters():
            return await stack.queue_length("sendpool.dead") >= 3

        await eventually(three_dead_letters, what="the refused recipients dead-lettered")

    dead = await stack.dead_letters()
    dead_sends = [send for _, body in dead for send in SendBatch.model_validate_json(body).sends()]
    assert sorted(ids(dead_sends)) == sorted(ids(refused)), "each refused recipient alone"
    assert all(len(SendBatch.model_validate_json(body).recipients) == 1 for _, body in dead)
    assert all(reason.startswith("malformed message: ") and "another tenant" in reason for reason, _ in dead)
    assert sorted(str(r.send.message_id) for r in per_recipient(await stack.deliveries(relay))) == sorted(
        ids(accepted)
    )


async def test_a_single_send_requested_of_an_earlier_version_is_still_routed(stack):
    relay = server("relay")
    message, traffic = message_of(TENANT, uuid4()), Traffic()
    async with (
        stack.listening() as heard,
        stack.replica(FakeCatalog(relay), traffic),
    ):
        await stack.publish_single_sends([message])
        [routed_event] = await heard.at_least(1, "routed")

    [batch] = await stack.deliveries(relay)
    [request] = batch.requests()
    assert request.send.message_id == message.message_id
    assert request.send.content == message.content and request.send.recipient == message.recipient
    assert batch.server_id == relay.id
    assert routed_event["message_id"] == str(message.message_id)
    assert await stack.dead_letters() == []
