"""How many events a second one events process ingests: status batches of 1,000 events published on
`sendpool.status` beforehand, then the process started (`create_app`, as `faststream run` builds it)
and timed until every event is logged and published on `sendpool.events` (a queue of the script's
own, bound to everything, counts them). Real PostgreSQL and RabbitMQ, a database and vhost of its own.

    python3 -m uv run python -m tests.integration.events.measure_ingest [--events 100000] [--batch 1000]

Prints one JSON line: events, seconds, events per second.
"""

import argparse
import asyncio
import json
import logging
import os
import time
from uuid import uuid4

import aio_pika
from faststream.rabbit import RabbitBroker

from services.events.entrypoints.main import create_app
from services.events.entrypoints.subscribers import STATUS_QUEUE
from services.events.settings import EventsSettings
from shared.contracts import MessageStatus, RoutingDecision, StatusBatch, StatusEvent
from shared.db import Database
from shared.topology import EVENTS_EXCHANGE, STATUS_EXCHANGE
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database


def batches(events: int, size: int) -> list[StatusBatch]:
    tenant, campaign, server = uuid4(), uuid4(), uuid4()
    decision = RoutingDecision(mode="use_all", weights={str(server): 1.0})
    statuses = [
        StatusEvent(
            status=MessageStatus.ROUTED if index % 2 else MessageStatus.SENT,
            message_id=uuid4(),
            tenant_id=tenant,
            campaign_id=campaign,
            run_id=uuid4(),
            recipient=f"Recipient{index}@Example.com",
            server_id=server,
            vendor="smtp",
            decision=decision if index % 2 else None,
            reply_code=None if index % 2 else 250,
        )
        for index in range(events)
    ]
    return StatusBatch.of(statuses, max_size=size)


async def measure(events: int, size: int, database_url: str, amqp_url: str) -> dict[str, float]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        counted = await channel.declare_queue("measure-events", exclusive=True)
        await counted.bind(exchange, routing_key="#")
        settings = EventsSettings(amqp_url=amqp_url, database_url=database_url, message_metrics=False)
        # The queue exists before anything is published: started once and stopped at once.
        async with create_app(settings):
            pass
        broker = RabbitBroker(amqp_url, logger=None)
        async with broker:
            await broker.start()
            for batch in batches(events, size):
                await broker.publish(
                    batch.model_dump_json().encode(), exchange=STATUS_EXCHANGE, routing_key=batch.routing_key
                )
        waiting = await channel.declare_queue(STATUS_QUEUE.name, passive=True)
        assert waiting.declaration_result.message_count == -(-events // size)
        started = time.perf_counter()
        async with create_app(settings):
            published = 0
            while published < events:
                message = await counted.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.01)
                    continue
                published += len(json.loads(message.body)["events"])
            seconds = time.perf_counter() - started
    async with Database(database_url, "events", settings_migrations(), pool_size=1, wait_seconds=0) as db:
        logged = await db.pool.fetchval("SELECT count(*) FROM event_log")
    return {
        "events": events,
        "logged": logged,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
    }


def settings_migrations():
    from services.events.bootstrap import MIGRATIONS

    return MIGRATIONS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("SENDPOOL_DEV_MODE", "1")
    logging.disable(logging.INFO)
    database_url, amqp_url = (
        create_database("sendpool_measure_events"),
        create_vhost("sendpool-measure-events"),
    )
    try:
        print(json.dumps(asyncio.run(measure(args.events, args.batch, database_url, amqp_url))))
    finally:
        delete_vhost(amqp_url)
        drop_database(database_url)


if __name__ == "__main__":
    main()
