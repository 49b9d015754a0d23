"""No campaign stays `running` for good: a message nobody heard of for too long is published again.

These tests play the pipeline themselves: they take the scheduler's send requests off
`router.send-requested` (so, as far as the scheduler can tell, those messages were lost on the
way) and publish the status events a router or delivery worker would.
"""

from datetime import timedelta
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from shared.contracts import MessageStatus, utcnow
from tests.integration.scheduler.harness import Bus, SchedulerApi, own_infrastructure
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.support.suppression_responder import suppression_responder

QUIET = 2.0


@pytest.fixture(scope="module")
async def quick_sweeping_scheduler(service_env, logs_dir):
    settings = {
        "stale_after_seconds": str(QUIET),
        "stale_routed_after_seconds": str(QUIET * 2),
        "stale_sweep_seconds": "0.5",
    }
    with own_infrastructure(service_env, **settings) as env:
        async with suppression_responder(env["SENDPOOL_AMQP_URL"]):
            process = ServiceProcess("scheduler", free_port(), env, logs_dir / "scheduler-stale.log").start()
            yield process, env
            process.stop()


@pytest.fixture
async def api(quick_sweeping_scheduler):
    process, env = quick_sweeping_scheduler
    async with httpx.AsyncClient(base_url=process.url, timeout=10.0) as client:
        yield SchedulerApi(client, issue_tenant_token(env["SENDPOOL_TOKEN_SECRET"], uuid4()))


@pytest.fixture
async def stale_bus(quick_sweeping_scheduler):
    _, env = quick_sweeping_scheduler
    async with Bus.connect(env["SENDPOOL_AMQP_URL"]) as connected:
        yield connected


async def test_messages_lost_on_the_way_are_published_again_with_their_ids(api: SchedulerApi, stale_bus: Bus):
    launched = await api.launched_campaign(3)
    first = await stale_bus.collect_send_requests(launched["id"], 3, linger=0)  # and "lost"

    again = await stale_bus.collect_send_requests(launched["id"], 3, timeout=QUIET + 10, linger=0)

    assert sorted(r.message_id for r in again) == sorted(r.message_id for r in first)
    assert {r.recipient for r in again} == {r.recipient for r in first}
    assert all(r.attempt == 1 for r in again)
    # Once final, nothing is published again, and the campaign completes.
    await stale_bus.publish_statuses(request.status_event(MessageStatus.SENT) for request in again)
    await api.wait_for(launched["id"], lambda r: r["state"] == "completed")
    with pytest.raises(AssertionError, match="got 0 of 1"):
        await stale_bus.collect_send_requests(launched["id"], 1, timeout=QUIET * 2, linger=0)


async def test_a_deferred_message_whose_retry_was_lost_gets_its_next_attempt(
    api: SchedulerApi, stale_bus: Bus
):
    launched = await api.launched_campaign(1)
    [request] = await stale_bus.collect_send_requests(launched["id"], 1, linger=0)
    await stale_bus.publish_statuses([request.status_event(MessageStatus.DEFERRED, retry_at=utcnow())])

    [retry] = await stale_bus.collect_send_requests(launched["id"], 1, timeout=QUIET + 10, linger=0)

    assert retry.message_id == request.message_id
    assert retry.attempt == 2


async def test_a_message_waiting_for_capacity_is_left_alone_until_it_is_due(
    api: SchedulerApi, stale_bus: Bus
):
    launched = await api.launched_campaign(1)
    [request] = await stale_bus.collect_send_requests(launched["id"], 1, linger=0)
    due_in = QUIET * 3
    await stale_bus.publish_statuses(
        [request.status_event(MessageStatus.WAITING, retry_at=utcnow() + timedelta(seconds=due_in))]
    )
    report = await api.wait_for(launched["id"], lambda r: r["counts"].get("waiting") == 1)
    assert report["state"] == "running"

    with pytest.raises(AssertionError, match="got 0 of 1"):
        await stale_bus.collect_send_requests(launched["id"], 1, timeout=due_in - 1, linger=0)
    [again] = await stale_bus.collect_send_requests(launched["id"], 1, timeout=QUIET + 10, linger=0)
    assert again.message_id == request.message_id

    # Waiting again (the cap still holds) is news; routed after it moves the message on.
    await stale_bus.publish_statuses([request.status_event(MessageStatus.WAITING, retry_at=utcnow())])
    await api.wait_for(launched["id"], lambda r: r["counts"].get("waiting") == 1)
    await stale_bus.publish_statuses([request.status_event(MessageStatus.ROUTED)])
    await api.wait_for(launched["id"], lambda r: r["counts"] == {"routed": 1})


async def test_held_messages_wait_for_their_resume_and_are_never_published_again(
    api: SchedulerApi, stale_bus: Bus
):
    launched = await api.launched_campaign(1)
    [request] = await stale_bus.collect_send_requests(launched["id"], 1, linger=0)
    await stale_bus.publish_statuses([request.status_event(MessageStatus.HELD)])
    await api.wait_for(launched["id"], lambda r: r["counts"] == {"held": 1})

    with pytest.raises(AssertionError, match="got 0 of 1"):
        await stale_bus.collect_send_requests(launched["id"], 1, timeout=QUIET * 3, linger=0)
