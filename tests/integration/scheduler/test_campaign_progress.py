"""Campaign progress against real PostgreSQL and RabbitMQ: the API's figures, and `campaign_progress`
events published by one of two scheduler replicas per interval, the last one before `campaign_completed`."""

from datetime import datetime
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from shared.contracts import MessageStatus
from tests.integration.scheduler.harness import Bus, SchedulerApi, own_infrastructure
from tests.support.catalog_senders_responder import catalog_senders_responder
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.support.suppression_responder import suppression_responder
from tools.stack.processes import wait_until_healthy

INTERVAL = 1.0


@pytest.fixture(scope="module")
def progress_env(service_env):
    with own_infrastructure(service_env, progress_interval_seconds=str(INTERVAL)) as env:
        yield env


@pytest.fixture(scope="module")
async def replicas(progress_env, logs_dir):
    """Two scheduler replicas on one database and vhost, both ticking every second (the catalog's and
    the bounces service's answers played by the test)."""
    amqp_url = progress_env["SENDPOOL_AMQP_URL"]
    async with suppression_responder(amqp_url), catalog_senders_responder(amqp_url):
        processes = [
            ServiceProcess("scheduler", free_port(), progress_env, logs_dir / f"scheduler-progress-{i}.log")
            for i in range(2)
        ]
        for process in processes:
            process.spawn()
        wait_until_healthy(processes, 60.0)  # both at once
        yield processes
        for process in processes:
            process.stop()


@pytest.fixture
async def api(replicas, progress_env):
    async with httpx.AsyncClient(base_url=replicas[0].url, timeout=10.0) as http:
        yield http


@pytest.fixture
async def progress_bus(replicas, progress_env):
    async with Bus.connect(progress_env["SENDPOOL_AMQP_URL"]) as connected:
        yield connected


def _tenant(http: httpx.AsyncClient, env: dict[str, str]) -> SchedulerApi:
    return SchedulerApi(http, issue_tenant_token(env["SENDPOOL_TOKEN_SECRET"], uuid4()))


async def test_progress_is_published_once_per_interval_and_last_before_completion(
    api: httpx.AsyncClient, progress_env, progress_bus: Bus
):
    tenant, other_tenant = _tenant(api, progress_env), _tenant(api, progress_env)
    launched = await tenant.launched_campaign(6)
    campaign_id = launched["id"]
    requests = await progress_bus.collect_send_requests(campaign_id, 6, linger=0)
    tenant_id = requests[0].tenant_id

    async with progress_bus.listen(f"{tenant_id}.{campaign_id}.*") as heard:
        # A first sample (nothing final yet), then half the messages sent.
        [first] = (await heard.at_least(1, "campaign_progress"))[:1]
        assert first["progress"]["total"] == 6
        assert first["progress"]["counts"] == {"queued": 6}
        await progress_bus.publish_statuses(r.status_event(MessageStatus.SENT) for r in requests[:3])

        async def half_sent() -> list[dict]:
            events = await heard.at_least(1, "campaign_progress")
            return [e for e in events if e["progress"]["counts"].get("sent") == 3]

        while not (moving := await half_sent()):
            await heard.at_least(len(heard.of("campaign_progress")) + 1, "campaign_progress")
        progress = moving[0]["progress"]
        assert progress["counts"] == {"sent": 3, "queued": 3}
        assert progress["send_rate_per_minute"] > 0
        assert progress["estimated_completion_at"] is not None

        # The API reads the same figures, with the rate from the samples the ticks recorded.
        response = await tenant.request("GET", f"/campaigns/{campaign_id}/progress")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["state"] == "running" and body["campaign_id"] == campaign_id
        assert body["counts"] == {"sent": 3, "queued": 3}
        assert body["send_rate_per_minute"] > 0
        report = await tenant.campaign(campaign_id)
        assert report["counts"] == {"sent": 3, "queued": 3}  # kept for older callers
        assert report["progress"]["counts"] == report["counts"]
        assert report["progress"]["send_rate_per_minute"] > 0

        # Two replicas, one publisher per campaign per interval: over a few intervals, never twice as many.
        before = len(heard.of("campaign_progress"))
        started = datetime.now().timestamp()
        await heard.at_least(before + 4, "campaign_progress", timeout_seconds=10)
        elapsed = datetime.now().timestamp() - started
        assert len(heard.of("campaign_progress")) - before <= elapsed / (INTERVAL * 0.9) + 2

        await progress_bus.publish_statuses(r.status_event(MessageStatus.SENT) for r in requests[3:])
        await heard.at_least(1, "campaign_completed")
        kinds = [event.get("kind") for event in heard.events]
        last_progress = max(i for i, kind in enumerate(kinds) if kind == "campaign_progress")
        assert kinds.index("campaign_completed") == last_progress + 1
        final = heard.events[last_progress]["progress"]
        assert final["counts"] == {"sent": 6}
        assert final["estimated_completion_at"] is not None  # nothing remains: the estimate is now

    # Another tenant's campaign is not found, its progress no more than its report.
    assert (await other_tenant.request("GET", f"/campaigns/{campaign_id}/progress")).status_code == 404
    assert (await tenant.request("GET", f"/campaigns/{uuid4()}/progress")).status_code == 404
    assert (await tenant.request("GET", "/campaigns/not-an-id/progress")).status_code == 422
