"""Attack: block the platform for everyone with one oversized request or one bad event.

Against a real catalog, scheduler and router (their own database and vhost, every API's body cap
set to 32 MiB as an operator might): a 50 MB body, sent with its length announced or in chunks,
is refused 413 before it is read, and the service goes on serving; a server with 100,000
destination rules and a campaign with a 10 MB subject (under the body cap, so it is the field's
bound that answers) are refused 422 naming the field and its limit; a send batch with a 10 MB
subject published straight on the bus is dead-lettered with the reason instead of being routed;
and one catalog event that cannot be published (unreadable, or larger than the relay may publish:
the catalog here takes events of at most 4 kB) is parked while the events recorded after it,
another tenant's, are delivered.

On the code before the bounds every one of these fails: nothing capped a body (FastAPI read all
50 MB, then answered 422 for JSON it could not parse; shown by running `post_huge_body` against
a catalog with the cap raised to 1 GiB), nothing bounded the rules or the subject (both were
accepted), the router took the batch, and the catalog's relay retried the unreadable event for
ever (`CatalogEvent.model_validate` raised for it in every round), so no event after it was
ever published.
"""

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from uuid import uuid4

import aio_pika
import asyncpg
import httpx
import pytest

from shared.limits import DESTINATION_RULES_MAX, SUBJECT_MAX
from shared.messaging import DEAD_REASON_HEADER
from shared.topology import CATALOG_EXCHANGE, DEAD_QUEUE, SEND_EXCHANGE, SEND_ROUTING_KEY
from tests.support.api import bearer
from tests.support.stacks import isolated_stack
from tools.stack.run import Stack

MB = 1024 * 1024
CATALOG_MAX_EVENT_BYTES = 4096
MAX_BODY_BYTES = 32 * MB
EVENT_DEADLINE_SECONDS = 15.0
TENANT_SERVERS_MAX = 3


@pytest.fixture(scope="module")
def stack(service_env, logs_dir) -> Iterator[Stack]:
    """Its own database and vhost: the events parked here, and the dead letters, are this module's alone."""
    env = {
        **service_env,
        "SENDPOOL_HTTP_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "SENDPOOL_CATALOG_OUTBOX_MAX_EVENT_BYTES": str(CATALOG_MAX_EVENT_BYTES),
        "SENDPOOL_CATALOG_TENANT_SERVERS_MAX": str(TENANT_SERVERS_MAX),
    }
    waves = (("catalog",), ("scheduler", "router"))
    operator_token = service_env["SENDPOOL_OPERATOR_TOKEN"]
    with isolated_stack(logs_dir / "bounds", env, operator_token, waves, name="sendpool-bounds") as stack:
        yield stack


def catalog_url(stack: Stack) -> str:
    return stack.services["catalog"].url


def operator(stack: Stack) -> dict[str, str]:
    return bearer(stack.operator_token)


async def new_tenant(http: httpx.AsyncClient, stack: Stack) -> tuple[str, dict[str, str]]:
    created = await http.post(
        f"{catalog_url(stack)}/tenants", json={"name": f"bounds-{uuid4().hex[:8]}"}, headers=operator(stack)
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], bearer(created.json()["token"])


def smtp_server(**fields: object) -> dict:
    return {
        "name": f"server-{uuid4().hex[:8]}",
        "type": "smtp",
        "settings": {"host": "smtp.bounds.example", "port": 2525, "username": "u", "password": "p"},
        **fields,
    }


def field_errors(response: httpx.Response) -> dict[str, str]:
    """`loc` joined with dots → message, of a 422's details."""
    return {".".join(str(part) for part in e["loc"]): e["msg"] for e in response.json()["detail"]}


# --------------------------------------------------------------------------- request bodies


async def post_huge_body(port: int, path: str, total: int, *, chunked: bool) -> tuple[int, int, float]:
    """POST `total` bytes to `path` over a raw connection, writing while the answer is awaited.

    Returns the status, how many bytes were written before the server answered (or closed), and
    how long the answer took. Plain sockets, in threads: a write that fails once the server has
    closed (it never reads the rest) must not hide the answer already received, as asyncio's
    streams would."""
    return await asyncio.to_thread(_post_huge_body, port, path, total, chunked)


def _post_huge_body(port: int, path: str, total: int, chunked: bool) -> tuple[int, int, float]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode()
    )
    piece = b"[" + b"1," * 32767 + b"1"
    frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    sent = 0

    def write_body() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):  # the server closed: it read no further
            while sent < total:
                sock.sendall(frame)
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")

    started = time.monotonic()
    writer = threading.Thread(target=write_body, daemon=True)
    writer.start()
    try:
        answer = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in answer and (received := sock.recv(4096)):
                answer += received
        elapsed = time.monotonic() - started
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # unblocks the writer
        writer.join(timeout=10)
        sock.close()
    assert answer, "the server closed the connection without an answer"
    return int(answer.split()[1]), sent, elapsed


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_50_mb_body_is_refused_413_before_it_is_read_and_the_service_serves_others(
    stack, http, chunked
):
    total = 50 * MB
    status, sent, elapsed = await post_huge_body(
        stack.services["catalog"].port, "/servers", total, chunked=chunked
    )

    assert status == 413
    assert elapsed < 10, f"the refusal took {elapsed:.1f}s"
    assert sent < total, "the whole body was read before the answer"
    # The service is still there for everyone else.
    assert (await http.get(f"{catalog_url(stack)}/tenants", headers=operator(stack))).status_code == 200
    assert (await http.get(f"{catalog_url(stack)}/healthz")).status_code == 204


async def test_a_too_large_body_is_refused_413_by_the_router_and_the_scheduler_too(stack):
    for process in (stack.services["router"], stack.services["scheduler"]):
        status, _, _ = await post_huge_body(process.port, "/campaigns", 64 * MB, chunked=False)
        assert status == 413, process.name


# --------------------------------------------------------------------------- fields


async def test_a_server_with_100_000_destination_rules_is_refused_422_naming_the_field(stack, http):
    _, tenant = await new_tenant(http, stack)
    rules = [{"domain": "a.io", "limits": {}}] * 100_000

    response = await http.post(
        f"{catalog_url(stack)}/servers", json=smtp_server(destination_rules=rules), headers=tenant
    )

    assert response.status_code == 422, response.text
    errors = field_errors(response)
    assert "body.destination_rules" in errors, errors
    assert str(DESTINATION_RULES_MAX) in errors["body.destination_rules"]


async def test_a_tenant_cannot_add_servers_without_end_and_the_operator_still_can(stack, http):
    """Each server has a queue in RabbitMQ from the moment it exists: without a cap, one tenant with no
    plan (or an unlimited quota) could make the broker hold queues without end (a fuzzing run that added
    a few hundred once stopped the test broker)."""
    _, tenant = await new_tenant(http, stack)
    for _ in range(TENANT_SERVERS_MAX):
        created = await http.post(f"{catalog_url(stack)}/servers", json=smtp_server(), headers=tenant)
        assert created.status_code == 201, created.text

    refused = await http.post(f"{catalog_url(stack)}/servers", json=smtp_server(), headers=tenant)

    assert refused.status_code == 403, refused.text
    assert (
        f"at most {TENANT_SERVERS_MAX} server(s) of its own and you have {TENANT_SERVERS_MAX}" in refused.text
    )
    pool_server = await http.post(
        f"{catalog_url(stack)}/servers", json=smtp_server(), headers=operator(stack)
    )
    assert pool_server.status_code == 201, pool_server.text


async def test_a_campaign_with_a_10_mb_subject_or_a_2_mb_body_is_refused_422_naming_the_field(stack, http):
    _, tenant = await new_tenant(http, stack)
    content = {"from_address": "news@bounds.example", "subject": "s" * (10 * MB), "text": "hello"}
    campaign = {"name": "huge", "list_id": str(uuid4()), "content": content}

    response = await http.post(f"{stack.scheduler_url}/campaigns", json=campaign, headers=tenant)

    assert response.status_code == 422, response.text[:500]
    errors = field_errors(response)
    assert str(SUBJECT_MAX) in errors["body.content.subject"], errors

    content = {**content, "subject": "hello", "html": "<p>" + "x" * (2 * MB) + "</p>"}
    response = await http.post(
        f"{stack.scheduler_url}/campaigns", json={**campaign, "content": content}, headers=tenant
    )
    assert response.status_code == 422, response.text[:500]
    assert "body.content.html" in field_errors(response)


# --------------------------------------------------------------------------- messages


async def test_a_send_batch_with_a_10_mb_subject_is_dead_lettered_with_the_reason(stack):
    run_id = str(uuid4())
    batch = {
        "schema_version": 2,
        "tenant_id": str(uuid4()),
        "campaign_id": str(uuid4()),
        "run_id": run_id,
        "content": {"from_address": "news@bounds.example", "subject": "s" * (10 * MB)},
        "recipients": [{"message_id": str(uuid4()), "recipient": "someone@bounds.example"}],
    }
    connection = await aio_pika.connect_robust(stack.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(SEND_EXCHANGE.name)
        await exchange.publish(
            aio_pika.Message(json.dumps(batch).encode(), content_type="application/json"),
            routing_key=SEND_ROUTING_KEY,
        )
        dead = await channel.get_queue(DEAD_QUEUE.name)
        reason = await dead_letter_reason(dead, run_id)

    assert "malformed message" in reason
    assert "content.subject" in reason and str(SUBJECT_MAX) in reason, reason[:500]


async def dead_letter_reason(queue: aio_pika.abc.AbstractQueue, run_id: str) -> str:
    deadline = time.monotonic() + EVENT_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        message = await queue.get(fail=False, no_ack=False)
        if message is None:
            await asyncio.sleep(0.2)
            continue
        if run_id.encode() in message.body:
            await message.ack()
            return str((message.headers or {}).get(DEAD_REASON_HEADER, ""))
        await message.nack(requeue=True)
        await asyncio.sleep(0.1)
    raise AssertionError("the oversized batch never reached sendpool.dead")


# --------------------------------------------------------------------------- the catalog's outbox


@dataclass
class CatalogEvents:
    queue: aio_pika.abc.AbstractQueue

    async def wait_for(self, predicate, what: str) -> dict:
        deadline = time.monotonic() + EVENT_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            message = await self.queue.get(fail=False, no_ack=True)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            event = json.loads(message.body)
            if predicate(event):
                return event
        raise AssertionError(f"no catalog event {what} within {EVENT_DEADLINE_SECONDS}s")


@pytest.fixture
async def catalog_events(stack) -> AsyncIterator[CatalogEvents]:
    connection = await aio_pika.connect_robust(stack.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(CATALOG_EXCHANGE.name, routing_key="catalog.#")
        yield CatalogEvents(queue)


@pytest.fixture
async def database(stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def parked(database: asyncpg.Connection, event_id: int) -> asyncpg.Record:
    deadline = time.monotonic() + EVENT_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        row = await database.fetchrow(
            "SELECT published_at, parked_at, parked_reason FROM catalog.outbox WHERE id = $1", event_id
        )
        if row is not None and row["parked_at"] is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"event {event_id} was not parked")


async def test_an_unreadable_catalog_event_is_parked_and_the_next_tenants_event_is_delivered(
    stack, http, catalog_events, database
):
    bad_id = await database.fetchval(
        "INSERT INTO catalog.outbox (kind, payload) VALUES ('catalog.tenant.changed', $1::jsonb) RETURNING id",
        json.dumps({"kind": "catalog.tenant.changed", "event_id": "not a number"}),
    )

    tenant_id, _ = await new_tenant(http, stack)

    await catalog_events.wait_for(
        lambda event: (event.get("tenant") or {}).get("id") == tenant_id, f"about tenant {tenant_id}"
    )
    row = await parked(database, bad_id)
    assert row["published_at"] is None
    assert row["parked_reason"].startswith("unreadable:"), row["parked_reason"]


async def test_a_catalog_event_too_large_to_publish_is_parked_and_another_tenants_event_is_delivered(
    stack, http, catalog_events, database
):
    _, attacker = await new_tenant(http, stack)
    rules = [{"domain": f"d{n}.bounds.example", "limits": {"per_hour": 10}} for n in range(80)]
    created = await http.post(
        f"{catalog_url(stack)}/servers", json=smtp_server(destination_rules=rules), headers=attacker
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]

    other_id, _ = await new_tenant(http, stack)

    await catalog_events.wait_for(
        lambda event: (event.get("tenant") or {}).get("id") == other_id, f"about tenant {other_id}"
    )
    big_id = await database.fetchval(
        "SELECT id FROM catalog.outbox WHERE kind = 'catalog.server.changed' AND payload->'server'->>'id' = $1",
        server_id,
    )
    row = await parked(database, big_id)
    assert f"more than the {CATALOG_MAX_EVENT_BYTES}" in row["parked_reason"], row["parked_reason"]
    metrics = (await http.get(f"{catalog_url(stack)}/metrics")).text
    assert 'sendpool_catalog_outbox_parked_total{kind="catalog.server.changed"}' in metrics
