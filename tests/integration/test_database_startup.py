"""A service that starts before PostgreSQL accepts connections waits for it instead of crashing
(`shared.db.Database.open`; real PostgreSQL, reached through a port that opens only after a while)."""

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest

from shared.db import Database
from shared.outbox import OUTBOX_TABLE
from tests.integration.tcp_proxy import TcpProxy

SCHEMA = "startup_test"


@pytest.fixture
def migrations(tmp_path):
    """A schema of one table, created by a migration as a service's are."""
    (tmp_path / "0001_outbox.sql").write_text(OUTBOX_TABLE)
    return tmp_path


@contextlib.asynccontextmanager
async def database_opening_after(database_url: str, seconds: float):
    """`database_url` on a port that refuses connections for `seconds`, then forwards to PostgreSQL."""
    proxy = TcpProxy(urlsplit(database_url).hostname or "127.0.0.1", urlsplit(database_url).port or 5432)

    async def open_later() -> None:
        await asyncio.sleep(seconds)
        await proxy.up()

    opening = asyncio.create_task(open_later())
    try:
        yield proxy.url(database_url)
    finally:
        opening.cancel()
        await proxy.down()


async def test_startup_waits_for_a_database_that_is_not_up_yet(database_url, migrations):
    async with database_opening_after(database_url, seconds=2.0) as url:
        database = Database(url, SCHEMA, migrations, pool_size=2, wait_seconds=30)
        await database.open()
        try:
            # Migrated and connected: the migration's table is there.
            assert await database.pool.fetchval("SELECT to_regclass('outbox') IS NOT NULL")
        finally:
            await database.close()


async def test_startup_gives_up_once_it_has_waited_long_enough(database_url, migrations):
    async with database_opening_after(database_url, seconds=60.0) as url:
        database = Database(url, SCHEMA, migrations, pool_size=2, wait_seconds=1.0)
        with pytest.raises(Exception, match="(?i)connect|refused"):
            await database.open()
        assert not database.is_open
