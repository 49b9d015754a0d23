"""Suppressed recipients at expansion, and feedback counted beside the states, against a real
scheduler, RabbitMQ and PostgreSQL; the bounces service's suppression check is played by
`tests.support.suppression_responder` (the package's `suppression` fixture)."""

import asyncio
from uuid import UUID, uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from shared.contracts import MessageStatus, StatusEvent, status_event_id
from tests.integration.scheduler.harness import Bus, SchedulerApi
from tests.support.suppression_responder import SuppressionResponder

SIZE = 1_200
"""Three expansion batches of the default 500."""


@pytest.fixture
def tenant_id() -> UUID:
    return uuid4()


@pytest.fixture
def api(http: httpx.AsyncClient, scheduler_env, tenant_id) -> SchedulerApi:
    return SchedulerApi(http, issue_tenant_token(scheduler_env["SENDPOOL_TOKEN_SECRET"], tenant_id))


async def test_suppressed_recipients_are_skipped_reported_and_the_campaign_completes_counting_them(
    api: SchedulerApi, bus: Bus, suppression: SuppressionResponder, tenant_id: UUID
):
    domain = f"{uuid4().hex[:8]}.example"
    for i in range(0, SIZE, 40):  # 30 of the tenant's own, one written in another case
        suppression.suppress(
            tenant_id, f"User{i}@{domain.upper()}" if i == 0 else f"user{i}@{domain}", "hard bounce"
        )
    suppression.suppress(None, f"user1@{domain}", "global: spam trap")
    suppression.suppress(uuid4(), f"user2@{domain}", "another tenant's complaint")  # not ours: mailed
    skipped = {f"user{i}@{domain}" for i in range(0, SIZE, 40)} | {f"user1@{domain}"}
    checks_before = len(suppression.checks)

    async with bus.listen(f"{tenant_id}.*.suppressed") as heard:
        launched = await api.launched_campaign(SIZE, domain=domain)
        campaign_id = launched["id"]
        requests = await bus.collect_send_requests(campaign_id, SIZE - len(skipped))
        events = await heard.at_least(len(skipped), "suppressed")
        await asyncio.sleep(0.5)  # a duplicate would show by now

    assert {request.recipient for request in requests} == {f"user{i}@{domain}" for i in range(SIZE)} - skipped
    assert len(events) == len(skipped), "each suppressed recipient reported once"
    assert {event["recipient"] for event in events} == skipped
    by_recipient = {event["recipient"]: event for event in events}
    assert by_recipient[f"user1@{domain}"]["reply_text"] == "global: spam trap"
    assert by_recipient[f"user40@{domain}"]["reply_text"] == "hard bounce"
    for event in events:
        assert event["campaign_id"] == campaign_id and event["run_id"] == launched["run_id"]
        assert event["event_id"] == str(
            status_event_id(UUID(event["message_id"]), MessageStatus.SUPPRESSED, 1)
        )
    sent_ids = {request.message_id for request in requests}
    assert not sent_ids & {UUID(event["message_id"]) for event in events}, "message ids of their own"

    ours = [check for check in suppression.checks[checks_before:] if check.tenant_id == tenant_id]
    assert [len(check.addresses) for check in ours] == [500, 500, 200], "one check per expansion batch"

    report = await api.wait_for(campaign_id, lambda r: r["expanded"] == SIZE)
    assert report["counts"] == {"queued": SIZE - len(skipped), "suppressed": len(skipped)}

    await bus.publish_statuses(
        request.status_event(MessageStatus.SENT, server_id=uuid4()) for request in requests
    )
    report = await api.wait_for(campaign_id, lambda r: r["state"] == "completed")
    assert report["counts"] == {"sent": SIZE - len(skipped), "suppressed": len(skipped)}


async def test_a_campaign_whose_recipients_are_all_suppressed_completes_without_a_send(
    api: SchedulerApi, bus: Bus, suppression: SuppressionResponder, tenant_id: UUID
):
    domain = f"{uuid4().hex[:8]}.example"
    for i in range(3):
        suppression.suppress(tenant_id, f"user{i}@{domain}", "unsubscribed")

    async with bus.listen(f"{tenant_id}.*.campaign_completed") as completed:
        launched = await api.launched_campaign(3, domain=domain)
        report = await api.wait_for(launched["id"], lambda r: r["state"] == "completed")
        await completed.at_least(1, "campaign_completed")

    assert report["counts"] == {"suppressed": 3}
    with pytest.raises(AssertionError, match="got 0 of 1"):
        await bus.collect_send_requests(launched["id"], 1, timeout=1.0)


async def test_bounced_and_complained_are_counted_once_beside_sent(
    api: SchedulerApi, bus: Bus, tenant_id: UUID
):
    launched = await api.launched_campaign(4, domain=f"{uuid4().hex[:8]}.example")
    requests = sorted(await bus.collect_send_requests(launched["id"], 4, linger=0), key=lambda r: r.recipient)
    server = uuid4()
    await bus.publish_statuses(
        request.status_event(MessageStatus.SENT, server_id=server) for request in requests
    )
    await api.wait_for(launched["id"], lambda r: r["state"] == "completed")

    def feedback(request, status: MessageStatus) -> StatusEvent:
        return request.status_event(
            status, server_id=server, enhanced_code="5.1.1", reply_text="user unknown"
        )

    bounced = [feedback(request, MessageStatus.BOUNCED) for request in requests[:2]]
    complained = feedback(requests[0], MessageStatus.COMPLAINED)  # the same message may bounce and complain
    foreign = bounced[0].model_copy(update={"run_id": uuid4(), "message_id": uuid4()})  # a run it never had
    await bus.publish_statuses([*bounced, complained, foreign])
    # Copies: a redelivered batch, and the same bounce again inside another batch.
    await bus.publish_statuses([*bounced, complained])
    await bus.publish_statuses([bounced[1]])
    await bus.wait_until_consumed("scheduler.status")

    report = await api.campaign(launched["id"])
    assert report["state"] == "completed"
    assert report["counts"] == {"sent": 4, "bounced": 2, "complained": 1}


async def test_expansion_waits_while_the_bounces_service_does_not_answer_then_continues(
    api: SchedulerApi, bus: Bus, suppression: SuppressionResponder, tenant_id: UUID
):
    domain = f"{uuid4().hex[:8]}.example"
    suppression.suppress(tenant_id, f"user3@{domain}", "complaint")
    await suppression.down()
    try:
        launched = await api.launched_campaign(10, domain=domain)
        await asyncio.sleep(3)
        report = await api.campaign(launched["id"])
        assert report["expanded"] == 0 and report["counts"] == {}, "nothing goes out unchecked"
        with pytest.raises(AssertionError, match="got 0 of 1"):
            await bus.collect_send_requests(launched["id"], 1, timeout=0.5)
    finally:
        await suppression.up()

    requests = await bus.collect_send_requests(launched["id"], 9, timeout=40)
    assert f"user3@{domain}" not in {request.recipient for request in requests}
    report = await api.wait_for(launched["id"], lambda r: r["expanded"] == 10)
    assert report["counts"] == {"queued": 9, "suppressed": 1}
