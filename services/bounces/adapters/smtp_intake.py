"""The bounce mail endpoint's SMTP server (aiosmtpd), in the service's own event loop.

aiosmtpd does the protocol: line lengths, the DATA size limit (552), the idle timeout. What a
real MX adds, this adds: a cap on sessions at once (one more is answered 421 on connect and
closed, so a flood costs a line each), and a longest session, so a sender that trickles a byte
at a time cannot hold a session for good. What the endpoint does with each mail is its handler's
(`services.bounces.entrypoints.smtp`).
"""

import asyncio
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP

log = structlog.get_logger("bounces.smtp")


class _Sessions:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _CappedSmtp(SMTP):
    """One session; refused with 421 while `sessions.limit` others are open."""

    def __init__(self, handler: Any, *, sessions: _Sessions, max_seconds: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sessions = sessions
        self._max_seconds = max_seconds
        self._refused = False
        self._counted = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None and not self._counted and not self._refused:  # not STARTTLS
            if self._sessions.open >= self._sessions.limit:
                self._refused = True  # answered 421 in place of the greeting (`_handle_client`)
            else:
                self._sessions.open += 1
                self._counted = True
                self._deadline = asyncio.get_running_loop().call_later(self._max_seconds, transport.close)
        super().connection_made(transport)

    async def _handle_client(self) -> None:
        if self._refused:
            await self.push("421 4.3.2 Too many sessions, try again later")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._sessions.open -= 1
            if self._deadline is not None:
                self._deadline.cancel()
        super().connection_lost(error)


class SmtpListener:
    """Listens on `host`:`port` (0: any free port, see `port`) once started."""

    def __init__(
        self,
        handler: Any,
        *,
        host: str,
        port: int,
        hostname: str,
        data_size_limit: int,
        max_sessions: int,
        timeout_seconds: float,
        session_max_seconds: float,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._hostname = hostname
        self._data_size_limit = data_size_limit
        self._sessions = _Sessions(max_sessions)
        self._timeout = timeout_seconds
        self._session_max_seconds = session_max_seconds
        self._server: asyncio.Server | None = None

    def _session(self) -> _CappedSmtp:
        return _CappedSmtp(
            self._handler,
            sessions=self._sessions,
            max_seconds=self._session_max_seconds,
            hostname=self._hostname,
            ident="sendpool bounces",
            data_size_limit=self._data_size_limit,
            timeout=self._timeout,
            # The mails are kept as bytes, exactly as received; nothing here decodes them.
            decode_data=False,
            enable_SMTPUTF8=True,
            command_call_limit=100,
        )

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_server(self._session, self._host, self._port)
        log.info("bounce mail endpoint listening", host=self._host, port=self.port)

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen for it, when started on port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def sessions(self) -> int:
        return self._sessions.open

    async def readiness(self) -> str | None:
        """`/readyz`: the endpoint is ready once it listens."""
        if self._server is None or not self._server.is_serving():
            return "the bounce mail endpoint is not listening"
        return None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
