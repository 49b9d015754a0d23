"""A service that starts before PostgreSQL accepts connections waits for it instead of crashing
(`shared.db.open_database`; real PostgreSQL, reached through a port that opens only after a while)."""

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest

from services.router.entrypoints.main import MIGRATIONS
from shared.db import open_database
from tests.integration.tcp_proxy import TcpProxy


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


async def test_startup_waits_for_a_database_that_is_not_up_yet(database_url):
    async with database_opening_after(database_url, seconds=2.0) as url:
        pool = await open_database(url, "router", MIGRATIONS, 2, wait_seconds=30)
        try:
            # Migrated and connected: the router's newest table is there.
            assert await pool.fetchval("SELECT to_regclass('outbox') IS NOT NULL")
        finally:
            await pool.close()


async def test_startup_gives_up_once_it_has_waited_long_enough(database_url):
    async with database_opening_after(database_url, seconds=60.0) as url:
        with pytest.raises(Exception, match="(?i)connect|refused"):
            await open_database(url, "router", MIGRATIONS, 2, wait_seconds=1.0)
