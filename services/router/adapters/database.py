"""Opening the router's database at start-up, waiting for PostgreSQL if it is not up yet.

In a deployment the router may start before PostgreSQL accepts connections (both restarted
together, a fail-over under way). Crashing then only trades a wait for a restart loop with its
back-off; waiting here, with a log line per try, says what the router is waiting for.
"""

import asyncio
import time
from pathlib import Path

import asyncpg
import psycopg
import structlog

from shared.db import create_pool, migrate

log = structlog.get_logger("router.database")

UNREACHABLE = (
    OSError,  # refused, reset, no route, DNS not resolvable yet
    psycopg.OperationalError,  # the migration's connection, for any of those
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # the server is starting up or shutting down
    asyncpg.TooManyConnectionsError,
)
"""What says the database cannot be reached now, as opposed to a mistake worth crashing for."""


async def open_database(
    database_url: str,
    schema: str,
    migrations: Path,
    pool_size: int,
    *,
    wait_seconds: float,
    max_pause_seconds: float = 10.0,
) -> asyncpg.Pool:
    """Apply the schema's migrations and open its pool, retrying while PostgreSQL is unreachable
    (pausing from 0.5 s, doubling up to `max_pause_seconds`) for up to `wait_seconds`."""
    deadline = time.monotonic() + wait_seconds
    pause, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            await asyncio.to_thread(migrate, database_url, schema, migrations)
            return await create_pool(database_url, schema, pool_size)
        except UNREACHABLE as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning(
                "database unreachable; waiting for it",
                error=repr(exc),
                attempt=attempt,
                retry_in_seconds=pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, max_pause_seconds)
