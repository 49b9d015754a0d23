"""Driving a running scheduler from tests: its HTTP API, and the queues around it."""

import asyncio
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aio_pika
import httpx
from pydantic import BaseModel, TypeAdapter

from shared.contracts import (
    CampaignEvent,
    IncomingSends,
    SendBatch,
    SendRequested,
    StatusBatch,
    StatusEvent,
    sends_of,
)
from shared.topology import SEND_QUEUE, STATUS_EXCHANGE
from tests.support.catalog_senders_responder import CatalogSendersResponder
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database
from tests.support.status_events import Heard, status_events
from tests.support.waiting import eventually_async


@contextmanager
def own_infrastructure(service_env: dict[str, str], **settings: str):
    """A database and vhost of their own, with extra scheduler settings (`SENDPOOL_SCHEDULER_<NAME>`).

    These tests consume `router.send-requested` themselves and count what the scheduler left
    in its tables; a router or scheduler started by another test must not share them.
    """
    database_url, amqp_url = create_database("sendpool_scheduler"), create_vhost("sendpool-scheduler")
    try:
        # A launch asks the catalog for the campaign's From domains: played here for every test.
        with catalog_stand_in(amqp_url):
            yield {
                **service_env,
                "SENDPOOL_DATABASE_URL": database_url,
                "SENDPOOL_AMQP_URL": amqp_url,
                **{f"SENDPOOL_SCHEDULER_{name.upper()}": value for name, value in settings.items()},
            }
    finally:
        delete_vhost(amqp_url)
        drop_database(database_url)


CATALOGS: dict[str, CatalogSendersResponder] = {}
"""The catalog stand-in of each vhost `own_infrastructure` made (by AMQP URL): a test sets From domains there."""


@contextmanager
def catalog_stand_in(amqp_url: str) -> Iterator[CatalogSendersResponder]:
    """The catalog's answers to the scheduler (`CatalogSendersResponder`), on an event loop of its
    own in a thread, so that synchronous fixtures can hold it for as long as their vhost lives."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="catalog-stand-in", daemon=True)
    thread.start()
    responder = CatalogSendersResponder(amqp_url)
    asyncio.run_coroutine_threadsafe(responder.start(), loop).result(timeout=30)
    CATALOGS[amqp_url] = responder
    try:
        yield responder
    finally:
        CATALOGS.pop(amqp_url, None)
        asyncio.run_coroutine_threadsafe(responder.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


INCOMING_SENDS: TypeAdapter[SendBatch | SendRequested] = TypeAdapter(IncomingSends)
"""What router.send-requested carries: the scheduler's `SendBatch`es (a `SendRequested` from earlier versions)."""

POLL_SECONDS = 0.1
"""How often the helpers below ask again: the scheduler answers within milliseconds."""


class SchedulerApi:
    """The scheduler's HTTP API as one caller (a tenant or the operator) sees it."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return await self.http.request(method, path, json=json, headers=self.headers)

    async def create_list(self, name: str = "newsletter") -> dict:
        response = await self.request("POST", "/lists", {"name": name})
        assert response.status_code == 201, response.text
        return response.json()

    async def add_recipients(self, list_id: str, emails: Iterable[str]) -> dict:
        recipients = [{"email": email} for email in emails]
        response = await self.request("POST", f"/lists/{list_id}/recipients", {"recipients": recipients})
        assert response.status_code == 200, response.text
        return response.json()

    async def create_campaign(self, list_id: str, **content: Any) -> dict:
        body = {"name": "spring sale", "list_id": list_id, "content": campaign_content(**content)}
        response = await self.request("POST", "/campaigns", body)
        assert response.status_code == 201, response.text
        return response.json()

    async def launch(self, campaign_id: str) -> dict:
        response = await self.request("POST", f"/campaigns/{campaign_id}/launch")
        assert response.status_code == 202, response.text
        return response.json()

    async def campaign(self, campaign_id: str) -> dict:
        response = await self.request("GET", f"/campaigns/{campaign_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def launched_campaign(self, size: int, *, domain: str = "example.com") -> dict:
        """A list of `size` recipients and a campaign launched over it; returns the launch answer."""
        recipient_list = await self.create_list()
        for start in range(0, size, 10_000):
            await self.add_recipients(
                recipient_list["id"], (f"user{i}@{domain}" for i in range(start, min(size, start + 10_000)))
            )
        campaign = await self.create_campaign(recipient_list["id"])
        return await self.launch(campaign["id"])

    async def wait_for(self, campaign_id: str, check: Callable[[dict], bool], timeout: float = 15.0) -> dict:
        async def probe() -> dict | None:
            report = await self.campaign(campaign_id)
            return report if check(report) else None

        return await eventually_async(
            probe,
            timeout_seconds=timeout,
            interval_seconds=POLL_SECONDS,
            what=f"campaign {campaign_id}'s report",
        )


def campaign_content(**overrides: Any) -> dict:
    return {
        "from_address": "news@shop.example",
        "from_name": "Shop",
        "subject": "Spring sale",
        "text": "Everything must go.",
        "html": "<p>Everything must go.</p>",
        **overrides,
    }


class Bus:
    """The test's own connection to the scheduler's vhost."""

    def __init__(self, connection: aio_pika.abc.AbstractRobustConnection, amqp_url: str) -> None:
        self.connection = connection
        self.vhost = amqp_url.rsplit("/", 1)[1]

    @classmethod
    @asynccontextmanager
    async def connect(cls, amqp_url: str):
        connection = await aio_pika.connect_robust(amqp_url)
        try:
            yield cls(connection, amqp_url)
        finally:
            await connection.close()

    async def publish(
        self, body: BaseModel | bytes, routing_key: str, *, message_id: str | None = None
    ) -> None:
        async with self.connection.channel(publisher_confirms=True) as channel:
            exchange = await channel.get_exchange(STATUS_EXCHANGE.name)
            await exchange.publish(self._message(body, message_id), routing_key=routing_key)

    async def publish_statuses(self, events: Iterable[StatusEvent]) -> None:
        """As the router and the delivery workers publish them: in `StatusBatch`es, one per campaign
        and status (all at once, so the batches may arrive in any order)."""
        await self.publish_all(StatusBatch.of(events))

    async def publish_all(self, messages: Iterable[StatusBatch | StatusEvent | CampaignEvent]) -> None:
        """Each on its own routing key, all at once; a `StatusEvent` alone is what earlier versions published."""
        async with self.connection.channel(publisher_confirms=True) as channel:
            exchange = await channel.get_exchange(STATUS_EXCHANGE.name)
            await asyncio.gather(
                *(
                    exchange.publish(self._message(message), routing_key=message.routing_key)
                    for message in messages
                )
            )

    @staticmethod
    def _message(body: BaseModel | bytes, message_id: str | None = None) -> aio_pika.Message:
        payload = body if isinstance(body, bytes) else body.model_dump_json().encode()
        return aio_pika.Message(
            payload,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
        )

    async def collect_send_requests(
        self, campaign_id: str, count: int, *, timeout: float = 20.0, linger: float = 0.5
    ) -> list[SendRequested]:
        """Consumes router.send-requested until `count` requests of the campaign have arrived,
        then keeps listening `linger` seconds so that extra ones would show; each recipient of a
        `SendBatch` is one request."""
        batches = await self.collect_send_batches(campaign_id, count, timeout=timeout, linger=linger)
        return [request for batch in batches for request in sends_of(batch)]

    async def collect_send_batches(
        self, campaign_id: str, count: int, *, timeout: float = 20.0, linger: float = 0.5
    ) -> list[SendBatch | SendRequested]:
        """The messages of the campaign on router.send-requested, as they arrived, until they carry
        `count` recipients in all (then `linger` seconds more, so that extra ones would show)."""
        messages = await self.collect_send_messages(campaign_id, count, timeout=timeout, linger=linger)
        return [body for body, _ in messages]

    async def collect_send_messages(
        self, campaign_id: str, count: int, *, timeout: float = 20.0, linger: float = 0.5
    ) -> list[tuple[SendBatch | SendRequested, bytes]]:
        """As `collect_send_batches`, each message with its body as it travelled."""
        found: list[tuple[SendBatch | SendRequested, bytes]] = []
        recipients = 0
        async with self.connection.channel() as channel:
            await channel.set_qos(prefetch_count=1000)
            queue = await channel.get_queue(SEND_QUEUE.name, ensure=True)
            deadline = time.monotonic() + timeout
            settle_until: float | None = None
            while True:
                message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    now = time.monotonic()
                    if settle_until is not None and now > settle_until:
                        return found
                    if now > deadline:
                        raise AssertionError(f"got {recipients} of {count} send requests within {timeout}s")
                    await asyncio.sleep(0.05)
                    continue
                body = INCOMING_SENDS.validate_json(message.body)
                if str(body.campaign_id) == campaign_id:
                    found.append((body, message.body))
                    recipients += len(body.recipients) if isinstance(body, SendBatch) else 1
                    if recipients >= count and settle_until is None:
                        settle_until = time.monotonic() + linger

    @asynccontextmanager
    async def listen(self, routing_key: str) -> AsyncIterator[Heard]:
        """A private queue on sendpool.status, bound with `routing_key`, for as long as the block lasts."""
        async with status_events(self.connection, routing_key) as heard:
            yield heard

    async def dead_letters(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        messages = []
        async with self.connection.channel() as channel:
            queue = await channel.get_queue("sendpool.dead", ensure=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                messages.append(message)
        return messages

    async def wait_until_consumed(self, queue: str, timeout: float = 15.0) -> None:
        """Waits until `queue` holds no message, ready or unacked: every one was handled and acked."""

        async def empty() -> bool:
            listing = await asyncio.to_thread(
                subprocess.run,
                [
                    "rabbitmqctl",
                    "-q",
                    "list_queues",
                    "-p",
                    self.vhost,
                    "--no-table-headers",
                    "name",
                    "messages",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            counts = dict(line.split("\t") for line in listing.stdout.splitlines() if "\t" in line)
            return counts.get(queue) == "0"

        await eventually_async(
            empty, timeout_seconds=timeout, interval_seconds=0.2, what=f"{queue} to be empty"
        )
