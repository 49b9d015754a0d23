"""Server protection end to end against a real catalog: the bounces service and the catalog as real
processes on a database and a virtual host of their own, status events published as the delivery
workers and the bounces service's own outbox publish them. Past its limits a server is paused with
the reason, and its rates are shown in `GET /servers/{id}` and `GET /pool`; under them it is not."""

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitResponse

from shared.contracts import (
    FeedbackClass,
    MessageStatus,
    ProbeRequest,
    ProbeResult,
    StatusBatch,
    StatusEvent,
)
from shared.messaging import rpc_reply
from shared.topology import STATUS_EXCHANGE, probe_queue
from tests.support.infra import free_port, fresh_test_database, fresh_test_vhost
from tests.support.processes import ServiceProcess
from tests.support.waiting import eventually_async

OPERATOR_TOKEN = "test-operator-token"  # tests/conftest.py: service_env
LIMITS = {"max_bounce_rate": 0.05, "max_complaint_rate": 0.01, "min_volume": 100}
REPORT_SECONDS = 1
VIEW_SECONDS = 0.5


@pytest.fixture(scope="module")
def stack_env(service_env):
    """A database and a vhost of this module's own: no other test's catalog takes its requests."""
    with (
        fresh_test_database("sendpool_protection") as database_url,
        fresh_test_vhost("sendpool-protection") as amqp,
    ):
        yield {**service_env, "SENDPOOL_DATABASE_URL": database_url, "SENDPOOL_AMQP_URL": amqp}


@pytest.fixture(scope="module")
async def probe_stand_in(stack_env) -> AsyncIterator[None]:
    """Stands in for the SMTP delivery worker's connection test: every server passes."""
    broker = RabbitBroker(stack_env["SENDPOOL_AMQP_URL"], logger=None)

    @broker.subscriber(probe_queue("smtp"))
    async def probe(request: ProbeRequest) -> RabbitResponse:
        return rpc_reply(ProbeResult(ok=True, message="Connection successful."))

    async with broker:
        await broker.start()
        yield


@pytest.fixture(scope="module")
def services(stack_env, logs_dir, probe_stand_in):
    catalog = ServiceProcess("catalog", free_port(), stack_env, logs_dir / "protection-catalog.log").start()
    bounces_env = {
        **stack_env,
        "SENDPOOL_BOUNCES_SMTP_PORT": "0",
        "SENDPOOL_LOG_LEVEL": "DEBUG",
        "SENDPOOL_BOUNCES_PROTECTION_INTERVAL_SECONDS": "0.2",
        "SENDPOOL_BOUNCES_REPUTATION_REPORT_SECONDS": str(REPORT_SECONDS),
        "SENDPOOL_BOUNCES_PROTECTION_CATALOG_VIEW_SECONDS": str(VIEW_SECONDS),
    }
    bounces = ServiceProcess("bounces", free_port(), bounces_env, logs_dir / "protection-bounces.log").start()
    yield catalog, bounces
    bounces.stop()
    catalog.stop()


@pytest.fixture(scope="module")
async def operator(services) -> AsyncIterator[httpx.AsyncClient]:
    catalog, _ = services
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    async with httpx.AsyncClient(base_url=catalog.url, headers=headers, timeout=15) as api:
        yield api


@pytest.fixture(scope="module")
async def status_bus(stack_env) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(stack_env["SENDPOOL_AMQP_URL"], logger=None)
    async with broker:
        await broker.start()
        yield broker


async def active_server(operator: httpx.AsyncClient) -> dict:
    created = await operator.post(
        "/servers",
        json={
            "name": f"mta-{uuid4().hex[:8]}",
            "type": "smtp",
            "settings": {"host": "smtp.relay.example", "port": 2525},
            "bounce_handling": LIMITS,
        },
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    assert (await operator.post(f"/servers/{server_id}/test")).json()["ok"] is True
    enabled = await operator.post(f"/servers/{server_id}/enable")
    assert enabled.json()["state"] == "active", enabled.text
    return enabled.json()


async def publish(
    bus: RabbitBroker,
    server_id: str,
    *,
    sent: int = 0,
    hard: int = 0,
    soft: int = 0,
    complaints: int = 0,
) -> None:
    """Status batches for one campaign's messages through `server_id`, as the services publish them."""
    tenant, campaign, run = uuid4(), uuid4(), uuid4()

    def event(status: MessageStatus, feedback_class: FeedbackClass | None = None) -> StatusEvent:
        return StatusEvent(
            status=status,
            message_id=uuid4(),
            tenant_id=tenant,
            campaign_id=campaign,
            run_id=run,
            recipient="reader@inbox.example",
            server_id=UUID(server_id),
            vendor="smtp",
            feedback_class=feedback_class,
        )

    events = (
        [event(MessageStatus.SENT) for _ in range(sent)]
        + [event(MessageStatus.BOUNCED, FeedbackClass.HARD) for _ in range(hard)]
        + [event(MessageStatus.BOUNCED, FeedbackClass.SOFT) for _ in range(soft)]
        + [event(MessageStatus.COMPLAINED, FeedbackClass.COMPLAINT) for _ in range(complaints)]
    )
    for batch in StatusBatch.of(events):
        await bus.publish(
            batch.model_dump_json().encode(),
            exchange=STATUS_EXCHANGE,
            routing_key=batch.routing_key,
            content_type="application/json",
        )


async def server_when(operator: httpx.AsyncClient, server_id: str, what: str, check) -> dict:
    async def seen() -> dict | None:
        body = (await operator.get(f"/servers/{server_id}")).json()
        return body if check(body) else None

    return await eventually_async(seen, timeout_seconds=30, interval_seconds=0.1, what=what)


def reported(sent: int, bounced: int, complained: int = 0):
    def check(body: dict) -> bool:
        rep = body["reputation"]
        return rep is not None and (rep["sent"], rep["bounced"], rep["complained"]) == (
            sent,
            bounced,
            complained,
        )

    return check


async def test_a_server_past_its_bounce_limit_is_paused_with_the_reason_and_shown_in_the_pool(
    operator, status_bus
):
    server = await active_server(operator)

    await publish(status_bus, server["id"], sent=200, hard=20, soft=30)

    body = await server_when(operator, server["id"], "the server paused", lambda b: b["state"] == "paused")
    assert body["pause"]["by"] == "bounces"
    assert body["pause"]["reason"] == (
        "bounce rate 10 % over the last 24 h (20 of 200 sent) is above this server's 5 % limit"
    )
    body = await server_when(operator, server["id"], "its rates reported", reported(200, 20))
    assert (body["reputation"]["bounce_rate"], body["reputation"]["window_hours"]) == (0.1, 24)

    pool = (await operator.get("/pool")).json()["summary"]
    over = {row["server_id"]: row for row in pool["reputation"]["over_limits"]}
    assert over[server["id"]]["over_limits"] == ["bounce"] and over[server["id"]]["state"] == "paused"
    assert pool["counts"]["paused"] >= 1
    listed = (await operator.get("/servers", params={"q": server["name"]})).json()["items"]
    assert [(row["state"], row["reputation"]["bounced"]) for row in listed] == [("paused", 20)]


async def test_soft_bounces_and_a_rate_at_the_limit_pause_nothing(operator, status_bus):
    server = await active_server(operator)

    # 5 % hard bounces exactly (the limit), and many soft ones, which do not count.
    await publish(status_bus, server["id"], sent=300, hard=15, soft=200, complaints=3)

    # A round asks for a pause before it reports, and waits for the catalog's answer: once these
    # counts are shown, they were judged.
    body = await server_when(operator, server["id"], "its rates reported", reported(300, 15, 3))
    assert body["reputation"]["bounce_rate"] == 0.05
    assert (body["state"], body["pause"]) == ("active", None)
    pool = (await operator.get("/pool")).json()["summary"]["reputation"]
    assert server["id"] not in {row["server_id"] for row in pool["over_limits"]}


async def test_below_min_volume_even_every_message_bouncing_pauses_nothing(operator, status_bus):
    server = await active_server(operator)

    await publish(status_bus, server["id"], sent=99, hard=99)

    body = await server_when(operator, server["id"], "its rates reported", reported(99, 99))
    assert (body["state"], body["reputation"]["bounce_rate"]) == ("active", 1.0)


async def test_complaints_past_their_limit_pause_with_their_own_reason(operator, status_bus):
    server = await active_server(operator)

    await publish(status_bus, server["id"], sent=400, complaints=6)

    body = await server_when(operator, server["id"], "the server paused", lambda b: b["state"] == "paused")
    assert body["pause"]["reason"] == (
        "complaint rate 1.5 % over the last 24 h (6 of 400 sent) is above this server's 1 % limit"
    )


async def test_a_resumed_server_is_judged_on_what_it_sends_after_its_pause(operator, status_bus):
    server = await active_server(operator)
    await publish(status_bus, server["id"], sent=200, hard=40)
    await server_when(operator, server["id"], "the server paused", lambda b: b["state"] == "paused")

    resumed = await operator.post(f"/servers/{server['id']}/resume")
    assert resumed.json()["state"] == "active"
    await asyncio.sleep(2 * VIEW_SECONDS)  # the bounces service's view of the catalog shows it resumed
    # More bounces of the mail it sent before the pause still arrive: the window shows them, but
    # they are not a reason to undo the operator's resume.
    await publish(status_bus, server["id"], hard=10)

    body = await server_when(operator, server["id"], "its rates reported", reported(200, 50))
    assert (body["state"], body["reputation"]["bounce_rate"]) == ("active", 0.25)
