"""The events service's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too);
`EventsRuntime.open` and `close`, run by the process's lifecycle, reach PostgreSQL and RabbitMQ.
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from faststream.rabbit import RabbitBroker

from services.events.adapters.event_log import PgEventLog
from services.events.adapters.publishers import (
    RabbitEventPublisher,
    declare_topology,
    public_stream_publisher,
)
from services.events.app.ingest import RecordEvents
from services.events.app.retention import PruneEvents
from services.events.app.timelines import Timelines
from services.events.entrypoints.http import create_http_api
from services.events.entrypoints.subscribers import register_subscribers
from services.events.settings import EventsSettings
from shared.auth import (
    REVOCATIONS_RPC_TIMEOUT_SECONDS,
    RevokedTokens,
    follow_revocations,
    revocations_from_catalog,
)
from shared.background import BackgroundTasks
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker
from shared.rpc import RpcClient

SCHEMA = "events"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class EventsRuntime:
    broker: RabbitBroker
    database: Database
    settings: EventsSettings
    http_api: FastAPI
    """The timelines: `GET /messages/{id}/events`, `GET /campaigns/{id}/events`."""
    background: BackgroundTasks
    prune: PruneEvents
    revoked_tokens: RevokedTokens
    catalog_rpc: RpcClient
    """Asks the catalog for the revoked tokens when the process starts."""

    async def open(self) -> None:
        """Before the consumer starts: the tables it writes, and the exchange it publishes to."""
        await self.database.open()
        await self.broker.connect()
        await declare_dead_letters(self.broker)
        await declare_topology(self.broker)

    async def start(self) -> None:
        self.revoked_tokens.start_loading(
            revocations_from_catalog(self.catalog_rpc, timeout_seconds=REVOCATIONS_RPC_TIMEOUT_SECONDS)
        )
        self.background.repeat("events-pruning", self.prune, every_seconds=self.settings.prune_seconds)

    async def stop(self) -> None:
        await self.revoked_tokens.stop()
        await self.background.stop()

    async def close(self) -> None:
        """After the consumer stopped (each message waited for its write and its publish)."""
        await self.catalog_rpc.close()
        await self.database.close()


def bootstrap(settings: EventsSettings) -> EventsRuntime:
    broker = service_broker(settings, SCHEMA)
    # Nothing is kept on a session: a released connection needs no reset round trip.
    database = Database.for_service(settings, SCHEMA, MIGRATIONS, stateless_sessions=True)
    event_log = PgEventLog(database)
    record = RecordEvents(event_log, RabbitEventPublisher(public_stream_publisher(broker)))
    register_subscribers(broker, record, prefetch=settings.status_prefetch)
    revoked_tokens = RevokedTokens()
    follow_revocations(broker, SCHEMA, settings.instance_id, revoked_tokens)
    return EventsRuntime(
        broker=broker,
        database=database,
        settings=settings,
        http_api=create_http_api(settings, Timelines(event_log), revoked_tokens),
        background=BackgroundTasks(),
        prune=PruneEvents(
            event_log, timedelta(days=settings.retention_days), batch_size=settings.prune_batch_size
        ),
        revoked_tokens=revoked_tokens,
        catalog_rpc=RpcClient(settings.amqp_url, name=SCHEMA),
    )
