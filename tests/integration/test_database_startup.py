"""A service that starts before PostgreSQL accepts connections waits for it instead of crashing
(`shared.db.open_database`; real PostgreSQL, reached through a port that opens only after a while)."""

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import pytest

from services.router.entrypoints.main import MIGRATIONS
from shared.db import open_database
from tests.support.infra import free_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def database_opening_after(database_url: str, seconds: float):
    """`database_url` on a port that refuses connections for `seconds`, then forwards to PostgreSQL."""
    real = urlsplit(database_url)
    port = free_port()
    delayed = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{port}"))

    async def forward(client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection(real.hostname, real.port or 5432)
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    servers: list[asyncio.Server] = []

    async def open_later() -> None:
        await asyncio.sleep(seconds)
        servers.append(await asyncio.start_server(forward, "127.0.0.1", port))

    opening = asyncio.create_task(open_later())
    try:
        yield delayed
    finally:
        opening.cancel()
        for server in servers:
            server.close()


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

