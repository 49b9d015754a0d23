"""Isolation for test runs: a fresh PostgreSQL database and a fresh RabbitMQ virtual host per run.

The same helpers as `make demo` and `make bench` (tools/stack.py), with unique names and the
servers the test environment names.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.db import create_pool, migrate
from tools import stack
from tools.stack import REPO, free_port

__all__ = [
    "create_database",
    "create_vhost",
    "delete_vhost",
    "drop_database",
    "free_port",
    "migrated_pool",
]

INFRA = stack.Infrastructure(
    admin_database_url=os.environ.get(
        "SENDPOOL_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    amqp_base_url=os.environ.get("SENDPOOL_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672"),
)


def create_database(prefix: str = "sendpool_test") -> str:
    return stack.create_database(INFRA, f"{prefix}_{uuid.uuid4().hex[:10]}")


def drop_database(url: str) -> None:
    stack.drop_database(INFRA, url.rsplit("/", 1)[1])


def create_vhost(prefix: str = "sendpool-test") -> str:
    return stack.create_vhost(INFRA, f"{prefix}-{uuid.uuid4().hex[:10]}")


def delete_vhost(url: str) -> None:
    stack.delete_vhost(url.rsplit("/", 1)[1])


@asynccontextmanager
async def migrated_pool(database_url: str, service: str, size: int = 5) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the service's schema, migrated as the service migrates it when it starts."""
    migrations = REPO / "services" / service / "migrations"
    await asyncio.to_thread(migrate, database_url, service, migrations)
    pool = await create_pool(database_url, service, size)
    try:
        yield pool
    finally:
        await pool.close()
