"""A webhooks process of its own (database and vhost of its own), a local https receiver it may reach
(loopback allowed by SENDPOOL_WEBHOOKS_EGRESS_ALLOW, the test CA trusted), and a publisher of
`EventBatch`es on `sendpool.events`. Backoff and time-outs are tiny so that the tests take seconds."""

from uuid import uuid4

import aio_pika
import httpx
import pytest
from cryptography.fernet import Fernet

from shared.auth import issue_tenant_token
from shared.events import EventBatch
from shared.topology import EVENTS_EXCHANGE
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database, free_port
from tests.support.processes import ServiceProcess
from tests.support.tls import ca_file
from tests.support.waiting import eventually
from tests.support.webhook_receiver import WebhookReceiver

REQUEST_TIMEOUT_SECONDS = 1.0


@pytest.fixture(scope="package")
def webhooks_env(service_env):
    database_url, amqp_url = create_database("sendpool_webhooks"), create_vhost("sendpool-webhooks")
    try:
        yield {
            **service_env,
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_WEBHOOKS_SECRET_KEYS": Fernet.generate_key().decode(),
            "SENDPOOL_WEBHOOKS_EGRESS_ALLOW": "127.0.0.1/32:1024-65535",
            "SENDPOOL_WEBHOOKS_TLS_CA_FILE": ca_file(),
            "SENDPOOL_WEBHOOKS_RETRY_BASE_SECONDS": "0.2",
            "SENDPOOL_WEBHOOKS_RETRY_MAX_SECONDS": "0.4",
            "SENDPOOL_WEBHOOKS_REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_SECONDS),
            "SENDPOOL_WEBHOOKS_POLL_SECONDS": "0.1",
            "SENDPOOL_WEBHOOKS_CONCURRENCY": "4",
            "SENDPOOL_WEBHOOKS_TENANT_CONCURRENCY": "2",
            "SENDPOOL_WEBHOOKS_MAX_ENDPOINTS_PER_TENANT": "5",
        }
    finally:
        delete_vhost(amqp_url)
        drop_database(database_url)


@pytest.fixture(scope="package")
def webhooks_service(webhooks_env, logs_dir):
    process = ServiceProcess("webhooks", free_port(), webhooks_env, logs_dir / "webhooks.log").start()

    def ready() -> bool:
        return httpx.get(f"{process.url}/readyz", timeout=2.0).status_code == 204

    try:
        eventually(ready, timeout_seconds=30, interval_seconds=0.2, what="the webhooks service ready")
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="package")
def receiver():
    server = WebhookReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http(webhooks_service):
    async with httpx.AsyncClient(base_url=webhooks_service.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def tenant(webhooks_env):
    """A new tenant: its id and the headers of its token."""
    tenant_id = uuid4()
    token = issue_tenant_token(webhooks_env["SENDPOOL_TOKEN_SECRET"], tenant_id)
    return tenant_id, {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def publish(webhooks_service, webhooks_env):
    connection = await aio_pika.connect(webhooks_env["SENDPOOL_AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE.name, aio_pika.ExchangeType.TOPIC, durable=True
        )

        async def send(batch: EventBatch) -> None:
            await exchange.publish(
                aio_pika.Message(batch.model_dump_json().encode(), content_type="application/json"),
                routing_key=batch.routing_key,
            )

        yield send
