"""Outages a test can make without touching the shared servers: a TCP proxy it takes down and back.

The PostgreSQL and RabbitMQ servers are shared with other test runs, so a test never restarts
them. It points the code under test at a `TcpProxy` in front of the real server instead;
`down()` closes the listening socket (new connections are refused) and aborts every connection
through it (those in use fail as they would when the server restarts), and `up()` listens again
on the same port.
"""

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

from tests.support.infra import create_vhost, free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        # Below the ephemeral range (`free_port`): while the proxy is down, an outgoing connection
        # could otherwise take its port, and `up()` would fail with "address already in use".
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, upstream_writer}
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer)
            )
        finally:
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def proxy_in_front_of(url: str) -> TcpProxy:
    """A running proxy in front of the server `url` names (host and port, default PostgreSQL's)."""
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.up()
    return proxy


def fresh_vhost() -> str:
    """A virtual host of the test's own, so its sendpool.dead holds only what the test put there."""
    return create_vhost("sendpool-test-faults")
