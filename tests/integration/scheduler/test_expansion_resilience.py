"""Expansion that is interrupted: by the router stopping the campaign, or by the process dying; and
expansion with two replicas, which never expand one run at once."""

import asyncio
from collections import Counter
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from shared.contracts import CampaignEvent, CampaignEventKind
from tests.integration.scheduler.harness import Bus, SchedulerApi, own_infrastructure
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.support.suppression_responder import suppression_responder

BATCH = 5
SIZE = 600  # 120 small batches: long enough for the test to step in while they go out
LONG = 6_000  # long enough for a second replica to start while the first still expands (in batches of 5, each checked)


@pytest.fixture
def slow_env(service_env):
    # A short lease and sweep, so that a replica takes over a dead one's run within seconds.
    with own_infrastructure(
        service_env, expand_batch_size=str(BATCH), expansion_lease_seconds="2", expansion_sweep_seconds="0.5"
    ) as env:
        yield env


@pytest.fixture
async def suppression(slow_env):
    async with suppression_responder(slow_env["SENDPOOL_AMQP_URL"]) as responder:
        yield responder


@pytest.fixture
def start_scheduler(slow_env, logs_dir, suppression):
    started: list[ServiceProcess] = []

    def start() -> ServiceProcess:
        process = ServiceProcess(
            "scheduler", free_port(), slow_env, logs_dir / "scheduler-resilience.log"
        ).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


async def test_a_stopped_campaign_stops_expanding_and_resumes_from_its_cursor(start_scheduler, slow_env):
    scheduler = start_scheduler()
    async with (
        httpx.AsyncClient(base_url=scheduler.url, timeout=10.0) as http,
        Bus.connect(slow_env["SENDPOOL_AMQP_URL"]) as bus,
    ):
        tenant_id = uuid4()
        tenant = SchedulerApi(http, issue_tenant_token(slow_env["SENDPOOL_TOKEN_SECRET"], tenant_id))
        launched = await tenant.launched_campaign(SIZE)
        stop = CampaignEvent(kind=CampaignEventKind.STOPPED, tenant_id=tenant_id, campaign_id=launched["id"])

        await tenant.wait_for(launched["id"], lambda r: r["expanded"] > 0, timeout=5)
        await bus.publish(stop, stop.routing_key)
        await tenant.wait_for(launched["id"], lambda r: r["state"] == "stopped")
        halted_at = (await tenant.campaign(launched["id"]))["expanded"]
        await asyncio.sleep(0.5)  # long enough for dozens of batches, had expansion gone on

        assert halted_at < SIZE, "the expansion ended before the stop; the test proves nothing"
        # The batch in flight when the stop arrived is still recorded; nothing after it.
        assert (await tenant.campaign(launched["id"]))["expanded"] <= halted_at + BATCH

        resumed = await tenant.request("POST", f"/campaigns/{launched['id']}/resume")
        assert resumed.status_code == 202
        report = await tenant.wait_for(launched["id"], lambda r: r["expanded"] == SIZE)
        assert report["counts"] == {"queued": SIZE}
        requests = await bus.collect_send_requests(launched["id"], SIZE)
        assert len(requests) == SIZE
        assert len({request.message_id for request in requests}) == SIZE


async def test_a_killed_scheduler_resumes_expanding_where_it_stopped(start_scheduler, slow_env):
    scheduler = start_scheduler()
    async with httpx.AsyncClient(base_url=scheduler.url, timeout=10.0) as http:
        tenant = SchedulerApi(http, issue_tenant_token(slow_env["SENDPOOL_TOKEN_SECRET"], uuid4()))
        launched = await tenant.launched_campaign(SIZE)
        before_kill = await tenant.wait_for(launched["id"], lambda r: r["expanded"] > 0, timeout=5)
    scheduler.kill()
    assert before_kill["expanded"] < SIZE, "the expansion ended before the kill; the test proves nothing"

    scheduler = start_scheduler()
    async with (
        httpx.AsyncClient(base_url=scheduler.url, timeout=10.0) as http,
        Bus.connect(slow_env["SENDPOOL_AMQP_URL"]) as bus,
    ):
        tenant.http = http
        report = await tenant.wait_for(launched["id"], lambda r: r["expanded"] == SIZE, timeout=30)
        requests = await bus.collect_send_requests(launched["id"], SIZE)

    assert report["counts"] == {"queued": SIZE}
    ids = Counter(request.message_id for request in requests)
    assert len(ids) == SIZE
    # Only the batch in flight when the process died may have gone out twice, with the same ids.
    assert len(requests) - SIZE <= BATCH


async def test_two_replicas_never_expand_one_run_at_once(start_scheduler, slow_env):
    first = start_scheduler()
    async with httpx.AsyncClient(base_url=first.url, timeout=10.0) as http:
        tenant = SchedulerApi(http, issue_tenant_token(slow_env["SENDPOOL_TOKEN_SECRET"], uuid4()))
        launched = await tenant.launched_campaign(LONG)
        await tenant.wait_for(launched["id"], lambda r: r["expanded"] > 0, timeout=5)
        # A second replica starts (a rolling update, a scale-up) and finds the run unfinished; it
        # keeps looking every sweep while the first one expands.
        start_scheduler()
        still_expanding = (await tenant.campaign(launched["id"]))["expanded"]
        async with Bus.connect(slow_env["SENDPOOL_AMQP_URL"]) as bus:
            # 1,200 batches of 5, each with its suppression check's round trip.
            report = await tenant.wait_for(launched["id"], lambda r: r["expanded"] == LONG, timeout=120)
            requests = await bus.collect_send_requests(launched["id"], LONG)

    assert still_expanding < LONG, (
        "the run was expanded before the second replica started; this proves nothing"
    )
    assert report["counts"] == {"queued": LONG}
    assert len(requests) == LONG, f"{len(requests) - LONG} send requests published twice"
