"""PostgreSQL helpers: one schema per service, plain-SQL migrations applied by yoyo."""

import asyncio
import json
import time
from pathlib import Path
from typing import TypeAlias

import asyncpg
import psycopg
import structlog
from yoyo import get_backend, read_migrations

from shared.settings import ServiceSettings
from shared.transient import transient_fault

log = structlog.get_logger("db")

DbConnection: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy"
"""A connection statements run on: one of a pool's (`pool.acquire()`) or one opened alone."""


def _conninfo_with_search_path(database_url: str, schema: str) -> str:
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options=-csearch_path%3D{schema}"


def migrate(database_url: str, schema: str, migrations_dir: Path) -> list[str]:
    """Create the service's schema and apply its pending migrations. Returns the ids applied.

    yoyo keeps its bookkeeping tables inside the service's schema (through search_path), so
    services migrate independently and never touch each other's tables.
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        # IF NOT EXISTS is no lock: replicas starting together (two delivery workers, say) can
        # both find the schema missing and race to create it. The lock makes the second one wait
        # and then find it there.
        conn.execute("SELECT pg_advisory_lock(hashtext('sendpool.create-schema.' || %s))", (schema,))
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    yoyo_url = _conninfo_with_search_path(database_url, schema).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
    backend = get_backend(yoyo_url)
    migrations = read_migrations(str(migrations_dir))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


async def _init_connection(conn: asyncpg.Connection) -> None:
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(pg_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    database_url: str, schema: str, max_size: int = 10, *, stateless_sessions: bool = False
) -> asyncpg.Pool:
    """A connection pool whose sessions resolve unqualified names in the service's own schema.

    `stateless_sessions`: the service keeps no session state on a connection (no LISTEN, no
    session advisory lock, no SET): a released connection is only rolled back if a transaction
    was left open, instead of asyncpg's full reset (`RESET ALL`, `UNLISTEN *`, … : a round trip
    on every release)."""
    return await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": schema, "application_name": f"sendpool-{schema}"},
        reset=_no_session_state_to_reset if stateless_sessions else None,
    )


async def _no_session_state_to_reset(connection: asyncpg.Connection) -> None:
    """Nothing to send: before calling this, the pool has rolled back a transaction left open
    (`Connection._reset`), which is all a session without state needs."""


async def open_database(
    database_url: str,
    schema: str,
    migrations_dir: Path,
    pool_size: int,
    *,
    wait_seconds: float,
    max_pause_seconds: float = 10.0,
    stateless_sessions: bool = False,
) -> asyncpg.Pool:
    """Migrate the service's schema and open its pool, waiting for PostgreSQL if it is not up yet.

    A service may start before PostgreSQL accepts connections (both restarted together, a
    fail-over under way). Crashing then only trades a wait for a restart loop with its back-off;
    waiting here, with a log line per try, says what the service is waiting for. An error that
    does not say the database is unreachable (`shared.transient`) is raised at once, and so is the
    last one once `wait_seconds` have passed. Pauses start at 0.5 s and double up to
    `max_pause_seconds`.
    """
    deadline = time.monotonic() + wait_seconds
    pause, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            await asyncio.to_thread(migrate, database_url, schema, migrations_dir)
            return await create_pool(database_url, schema, pool_size, stateless_sessions=stateless_sessions)
        except Exception as exc:
            if transient_fault(exc) is None or time.monotonic() + pause > deadline:
                raise
            log.warning(
                "database unreachable; waiting for it",
                schema=schema,
                error=repr(exc),
                attempt=attempt,
                retry_in_seconds=pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, max_pause_seconds)


class DatabaseNotOpen(RuntimeError):
    """The service used its database before startup opened it (a wiring mistake, not an outage)."""


class Database:
    """A service's database, built with everything else and opened when the process starts.

    The composition root (`services/<service>/bootstrap.py`) hands this to the adapters before
    any event loop runs, so nothing has to be filled in later; `open()` waits for PostgreSQL,
    applies the migrations and opens the pool (`open_database`), `close()` closes it.
    """

    def __init__(
        self,
        url: str,
        schema: str,
        migrations_dir: Path,
        *,
        pool_size: int,
        wait_seconds: float,
        stateless_sessions: bool = False,
    ) -> None:
        """`stateless_sessions`: see `create_pool`."""
        self.url = url
        self.schema = schema
        self._migrations_dir = migrations_dir
        self._pool_size = pool_size
        self._wait_seconds = wait_seconds
        self._stateless_sessions = stateless_sessions
        self._pool: asyncpg.Pool | None = None

    @classmethod
    def for_service(
        cls, settings: ServiceSettings, schema: str, migrations_dir: Path, *, stateless_sessions: bool = False
    ) -> "Database":
        """The database of a service process, as its settings configure it."""
        return cls(
            settings.database_url,
            schema,
            migrations_dir,
            pool_size=settings.db_pool_size,
            wait_seconds=settings.startup_database_wait_seconds,
            stateless_sessions=stateless_sessions,
        )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseNotOpen(f"the {self.schema} database is used before the service opened it")
        return self._pool

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def open(self) -> None:
        if self._pool is None:
            self._pool = await open_database(
                self.url,
                self.schema,
                self._migrations_dir,
                self._pool_size,
                wait_seconds=self._wait_seconds,
                stateless_sessions=self._stateless_sessions,
            )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> "Database":
        """Open for a block (a command, a test), closed when it ends however it ends."""
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
