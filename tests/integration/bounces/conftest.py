"""A bounces process of its own (database and vhost of its own), as `faststream run` starts it, with
its HTTP API and its bounce mail endpoint on ports of their own; readers of its schema and queues."""

from uuid import uuid4

import aio_pika
import httpx
import pytest

from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from shared.auth import issue_tenant_token
from shared.db import Database
from shared.topology import STATUS_EXCHANGE
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import eventually

SMTP_MAX_SESSIONS = 3
MAIL_MAX_BYTES = 64 * 1024


@pytest.fixture(scope="package")
def bounces_env(service_env):
    database_url, amqp_url = create_database("sendpool_bounces"), create_vhost("sendpool-bounces")
    try:
        yield {
            **service_env,
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_BOUNCES_SMTP_HOST": "127.0.0.1",
            "SENDPOOL_BOUNCES_SMTP_PORT": str(free_port()),
            "SENDPOOL_BOUNCES_SMTP_MAX_SESSIONS": str(SMTP_MAX_SESSIONS),
            "SENDPOOL_BOUNCES_MAIL_MAX_BYTES": str(MAIL_MAX_BYTES),
            "SENDPOOL_BOUNCES_SMTP_TIMEOUT_SECONDS": "5",
        }
    finally:
        delete_vhost(amqp_url)
        drop_database(database_url)


@pytest.fixture(scope="package")
def bounces_service(bounces_env, logs_dir):
    process = ServiceProcess("bounces", free_port(), bounces_env, logs_dir / "bounces.log").start()

    def ready() -> bool:
        return httpx.get(f"{process.url}/readyz", timeout=2.0).status_code == 204

    try:
        eventually(
            ready, timeout_seconds=30, interval_seconds=0.2, what="the bounces service ready (its SMTP bound)"
        )
        yield process
    finally:
        process.stop()


@pytest.fixture
def smtp_port(bounces_service, bounces_env) -> int:
    return int(bounces_env["SENDPOOL_BOUNCES_SMTP_PORT"])


@pytest.fixture
async def bounces_db(bounces_service, bounces_env):
    """The test's own reader of the service's schema."""
    async with Database(
        bounces_env["SENDPOOL_DATABASE_URL"], SCHEMA, MIGRATIONS, pool_size=2, wait_seconds=0
    ) as db:
        yield db


@pytest.fixture
async def http(bounces_service):
    async with httpx.AsyncClient(base_url=bounces_service.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def operator_token(bounces_env) -> str:
    return bounces_env["SENDPOOL_OPERATOR_TOKEN"]


@pytest.fixture
def new_tenant_token(bounces_env):
    def issue(tenant_id=None) -> str:
        return issue_tenant_token(bounces_env["SENDPOOL_TOKEN_SECRET"], tenant_id or uuid4())

    return issue


class StatusListener:
    """A queue of the test's own on sendpool.status, bound to `bounced` and `complained`."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self._queue = queue

    async def waiting(self) -> list[bytes]:
        """The bodies of the messages waiting in the queue now (taken off it)."""
        bodies = []
        while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
            bodies.append(message.body)
        return bodies


@pytest.fixture
async def status_listener(bounces_service, bounces_env):
    connection = await aio_pika.connect(bounces_env["SENDPOOL_AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            STATUS_EXCHANGE.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"test-feedback-{uuid4().hex[:8]}", exclusive=True, auto_delete=True
        )
        for status in ("bounced", "complained"):
            await queue.bind(exchange, routing_key=f"*.*.{status}")
        yield StatusListener(queue)
