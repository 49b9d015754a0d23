"""PostgreSQL helpers: one schema per service, plain-SQL migrations applied by yoyo."""

import json
from pathlib import Path

import asyncpg
import psycopg
from yoyo import get_backend, read_migrations


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


async def create_pool(database_url: str, schema: str, max_size: int = 10) -> asyncpg.Pool:
    """A connection pool whose sessions resolve unqualified names in the service's own schema."""
    return await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": schema, "application_name": f"sendpool-{schema}"},
    )
