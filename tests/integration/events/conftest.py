"""An events process as `faststream run` builds it (`create_app`), run in the tests' event loop on a
database and virtual host of its own; a publisher of status events, a listener on the public stream,
and clients of its API."""

import asyncio
from collections.abc import Sequence
from uuid import UUID, uuid4

import aio_pika
import httpx
import pytest
from faststream.rabbit import RabbitBroker
from pydantic import BaseModel

from services.events.bootstrap import MIGRATIONS, SCHEMA
from services.events.entrypoints.main import create_app
from services.events.settings import EventsSettings
from shared.auth import issue_tenant_token
from shared.db import Database
from shared.events import EventBatch
from shared.topology import EVENTS_EXCHANGE, STATUS_EXCHANGE
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database

TOKEN_SECRET = "events-test-token-secret"
OPERATOR_TOKEN = "events-test-operator-token"


@pytest.fixture(scope="package")
def events_settings():
    database_url, amqp_url = create_database("sendpool_events"), create_vhost("sendpool-events")
    try:
        yield EventsSettings(
            amqp_url=amqp_url,
            database_url=database_url,
            message_metrics=False,
            token_secret=TOKEN_SECRET,
            operator_token=OPERATOR_TOKEN,
            db_pool_size=4,
        )
    finally:
        delete_vhost(amqp_url)
        drop_database(database_url)


@pytest.fixture(scope="package")
async def events_app(events_settings):
    app = create_app(events_settings)
    async with app:
        yield app


@pytest.fixture(scope="package")
async def events_db(events_app, events_settings):
    """The test's own reader of the service's schema."""
    async with Database(
        events_settings.database_url, SCHEMA, MIGRATIONS, pool_size=2, wait_seconds=0
    ) as database:
        yield database


@pytest.fixture
async def http(events_app):
    transport = httpx.ASGITransport(app=events_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://events", timeout=10.0) as client:
        yield client


def tenant_headers(tenant_id: UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_tenant_token(TOKEN_SECRET, tenant_id)}"}


OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


class StatusPublisher:
    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def publish(self, messages: Sequence[BaseModel], *, routing_key: str | None = None) -> None:
        for message in messages:
            await self._broker.publish(
                message.model_dump_json().encode(),
                exchange=STATUS_EXCHANGE,
                routing_key=routing_key or message.routing_key,  # type: ignore[attr-defined]
                content_type="application/json",
                mandatory=False,
            )

    async def publish_raw(self, body: bytes, routing_key: str) -> None:
        await self._broker.publish(
            body, exchange=STATUS_EXCHANGE, routing_key=routing_key, content_type="application/json"
        )


@pytest.fixture(scope="package")
async def status_publisher(events_app, events_settings):
    broker = RabbitBroker(events_settings.amqp_url, logger=None)
    async with broker:
        await broker.start()
        yield StatusPublisher(broker)


class StreamListener:
    """A queue of the test's own on sendpool.events."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def batches(self, events: int, timeout: float = 20.0) -> list[tuple[str, EventBatch]]:
        """(routing key, batch) as they arrive, until `events` events have come."""
        received: list[tuple[str, EventBatch]] = []
        async with asyncio.timeout(timeout):
            while sum(len(batch.events) for _, batch in received) < events:
                message = await self.queue.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                received.append((message.routing_key or "", EventBatch.model_validate_json(message.body)))
        return received

    async def nothing_more(self, wait: float = 1.0) -> bool:
        await asyncio.sleep(wait)
        return await self.queue.get(no_ack=True, fail=False) is None


@pytest.fixture
async def connection(events_app, events_settings):
    connection = await aio_pika.connect(events_settings.amqp_url)
    async with connection:
        yield connection


@pytest.fixture
async def listen(connection):
    """`await listen("<tenant>.#")`: a listener bound with that key."""
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE.name, aio_pika.ExchangeType.TOPIC, durable=True)

    async def bound(routing_key: str) -> StreamListener:
        queue = await channel.declare_queue(f"test-events-{uuid4().hex[:8]}", exclusive=True)
        await queue.bind(exchange, routing_key=routing_key)
        return StreamListener(queue)

    return bound
