"""Isolation for test runs: a fresh PostgreSQL database and a fresh RabbitMQ virtual host per run.

The same helpers as `make demo` and `make bench` (`tools.stack.infra`), with unique names and the
servers the test environment names. `SENDPOOL_TEST_KEEP` set keeps them after the run.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg

from shared.db import create_pool, migrate
from tools.stack import infra
from tools.stack.ports import free_port
from tools.stack.processes import REPO

__all__ = [
    "create_database",
    "create_vhost",
    "delete_vhost",
    "drop_database",
    "free_port",
    "fresh_test_database",
    "fresh_test_vhost",
    "migrated_pool",
]

INFRA = infra.Infrastructure(
    admin_database_url=os.environ.get(
        "SENDPOOL_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    amqp_base_url=os.environ.get("SENDPOOL_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672"),
)
KEEP = bool(os.environ.get("SENDPOOL_TEST_KEEP"))


def _unique(prefix: str, separator: str) -> str:
    return f"{prefix}{separator}{uuid.uuid4().hex[:10]}"


def create_database(prefix: str = "sendpool_test") -> str:
    return infra.create_database(INFRA, _unique(prefix, "_"))


def drop_database(url: str) -> None:
    infra.drop_database(INFRA, url.rsplit("/", 1)[1])


def create_vhost(prefix: str = "sendpool-test") -> str:
    return infra.create_vhost(INFRA, _unique(prefix, "-"))


def delete_vhost(url: str) -> None:
    infra.delete_vhost(url.rsplit("/", 1)[1])


@contextmanager
def fresh_test_database(prefix: str = "sendpool_test") -> Iterator[str]:
    """A fresh database's URL, dropped afterwards (unless SENDPOOL_TEST_KEEP)."""
    with infra.fresh_database(INFRA, _unique(prefix, "_"), keep=KEEP) as url:
        yield url


@contextmanager
def fresh_test_vhost(prefix: str = "sendpool-test") -> Iterator[str]:
    """A fresh virtual host's AMQP URL, deleted afterwards (unless SENDPOOL_TEST_KEEP)."""
    with infra.fresh_vhost(INFRA, _unique(prefix, "-"), keep=KEEP) as url:
        yield url


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
