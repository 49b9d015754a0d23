"""The bounces service's composition root: everything the process runs, built from its settings.

`bootstrap` does no I/O and needs no event loop (documentation generators call it too);
`BouncesRuntime.open` and `close`, run by the process's lifecycle, reach PostgreSQL and RabbitMQ.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faststream.rabbit import RabbitBroker

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.app.counters import RecordOutcomes
from services.bounces.entrypoints.subscribers import bind_counted_statuses, subscribe
from services.bounces.settings import BouncesSettings
from shared.batching import Batcher
from shared.contracts import StatusEvent
from shared.db import Database
from shared.messaging import declare_dead_letters, service_broker

SCHEMA = "bounces"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class BouncesRuntime:
    broker: RabbitBroker
    database: Database
    counters: PgCounterStore
    record_outcomes: Batcher[Sequence[StatusEvent], None]
    """`RecordOutcomes`, one database write for the events of the status messages in hand."""
    http_api: None = None
    """No HTTP API beside the probes."""

    async def open(self) -> None:
        """Before the consumers start: wait for PostgreSQL, migrate, open the pool."""
        await self.database.open()

    async def start(self) -> None:
        """Once the broker is connected: the dead-letter queue and the status queue's bindings."""
        await declare_dead_letters(self.broker)
        await bind_counted_statuses(self.broker)

    async def stop(self) -> None:
        """Nothing runs beside the consumers, which the broker drains itself."""

    async def close(self) -> None:
        """After the consumers stopped (each waited for its own write)."""
        await self.database.close()


def bootstrap(settings: BouncesSettings) -> BouncesRuntime:
    broker = service_broker(settings, SCHEMA)
    database = Database.for_service(settings, SCHEMA, MIGRATIONS)
    counters = PgCounterStore(database)
    record_outcomes: Batcher[Sequence[StatusEvent], None] = Batcher(
        RecordOutcomes(counters), max_items=settings.counter_batch_size
    )
    subscribe(broker, record_outcomes, prefetch=settings.status_prefetch)
    return BouncesRuntime(broker, database, counters, record_outcomes)
