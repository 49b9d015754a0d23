"""`sendpool events tail` against real RabbitMQ: its filters become bindings on `sendpool.events`, it
prints what matches, stops after `--count`, and stops cleanly on Ctrl-C (a filter that is
not an id is refused before connecting: tests/unit/test_cli_tracking.py)."""

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import aio_pika

from shared.events import Event, EventBatch, EventType
from shared.topology import EVENTS_EXCHANGE

REPO = Path(__file__).resolve().parents[2]
TENANT, OTHER_TENANT, CAMPAIGN = uuid4(), uuid4(), uuid4()


def _event(tenant=TENANT, type_="sent", recipient="ann@example.com", **details) -> Event:
    return Event(
        event_id=uuid4(),
        type=EventType(type_),
        occurred_at=datetime.now(UTC),
        tenant_id=tenant,
        campaign_id=CAMPAIGN,
        message_id=uuid4(),
        recipient=recipient,
        server_id=uuid4(),
        attempt=1,
        details=details,
    )


async def _publish(amqp_url: str, *batches: EventBatch) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel(publisher_confirms=True) as channel:
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE.name, type="topic", durable=True)
        # Not an EventBatch: skipped with a word on stderr, and the tail goes on.
        await exchange.publish(aio_pika.Message(b"{not json"), routing_key=f"{TENANT}.{CAMPAIGN}.sent")
        for batch in batches:
            await exchange.publish(
                aio_pika.Message(batch.model_dump_json().encode()), routing_key=batch.routing_key
            )


async def _start_tail(amqp_url: str, *args: str) -> asyncio.subprocess.Process:
    """The command, once its queue is bound (it says so on stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ops.cli", "events", "tail", *args,
        cwd=REPO,
        env={**os.environ, "SENDPOOL_AMQP_URL": amqp_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), timeout=30)
    assert line.startswith(b"listening on sendpool.events for "), line
    return process


async def test_tail_prints_the_matching_events_only_and_stops_after_count(amqp_url):
    process = await _start_tail(
        amqp_url, "--tenant", str(TENANT), "--type", "sent", "--type", "bounced", "--count", "3", "--json"
    )
    wanted = [_event(recipient="a@example.com"), _event(recipient="b@example.com")]
    bounced = _event(type_="bounced", recipient="a@example.com", feedback_class="hard")
    await _publish(
        amqp_url,
        EventBatch(
            tenant_id=OTHER_TENANT,
            campaign_id=CAMPAIGN,
            type=EventType("sent"),
            events=[_event(tenant=OTHER_TENANT)],
        ),
        EventBatch(
            tenant_id=TENANT, campaign_id=CAMPAIGN, type=EventType("routed"), events=[_event(type_="routed")]
        ),
        *EventBatch.of(wanted),
        *EventBatch.of([bounced]),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr
    printed = [json.loads(line) for line in stdout.decode().splitlines()]
    assert [event["event_id"] for event in printed] == [str(e.event_id) for e in [*wanted, bounced]]
    assert printed[2]["details"] == {"feedback_class": "hard"}
    assert b"skipped a message that is not an EventBatch" in stderr


async def test_tail_filters_one_recipient_and_stops_cleanly_on_ctrl_c(amqp_url):
    process = await _start_tail(amqp_url, "--campaign", str(CAMPAIGN), "--recipient", "Ann@Example.COM")
    await _publish(
        amqp_url,
        *EventBatch.of(
            [_event(recipient="bob@example.com"), _event(recipient="ann@example.com", reply_code=250)]
        ),
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
    assert "  sent  " in line and "ann@example.com" in line and line.rstrip().endswith("250")
    process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
    assert b"bob@example.com" not in stdout
    assert b"Traceback" not in stderr and b"stopped" in stderr
