"""Sending through an SMTP server (aiosmtplib), over a small pool of reused connections.

A connection is opened the way the server's settings say: `tls` upgrades with STARTTLS and
refuses to go on in plain text when the server does not offer it, `ssl` speaks TLS from the
first byte, `none` stays in clear, and `opportunistic` (for delivery straight to MX hosts, which
rarely have certificates for their names) uses STARTTLS when offered and clear text when not.
After any error a connection is either reset (RSET) or closed, so one refused message never
leaves a half-finished transaction for the next.

The TCP connection is opened by the egress policy (`shared.egress`), to an address it checked;
aiosmtplib gets the connected socket and the host's name, for TLS. A connection that cannot be made
ready fails with a reason in sendpool's words (it reaches the tenant through connection tests and
statuses): never the server's banner or reply text, which only the worker's log keeps.
"""

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiosmtplib
import structlog
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from pydantic import Field, SecretStr

from services.delivery.adapters.server_settings import AdapterSettings, parse_server_settings
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent, trace_attributes
from services.delivery.domain.smtp_codes import ReplyClass, classify, enhanced_code_of, queue_id_of
from shared import tracing
from shared.contracts import ProbeResult
from shared.egress import EgressPolicy, EgressRefused, UnknownHost

log = structlog.get_logger("delivery.smtp")

IDLE_CONNECTION_SECONDS = 30.0
"""An idle connection older than this is closed rather than reused: servers drop idle clients
(Postfix after 300s, many relays sooner), and a connection dropped silently would only show
itself by a timeout on the next message."""

QUIT_TIMEOUT_SECONDS = 5.0


class SmtpSettings(AdapterSettings):
    """An SMTP server's connection settings as the catalog stores them (type `smtp`)."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    encryption: Literal["tls", "ssl", "none", "opportunistic"] = "tls"
    username: str | None = None
    password: SecretStr | None = None
    verify_certificate: bool = True


@dataclass(frozen=True)
class SmtpOptions:
    """How this worker talks SMTP, whatever the server."""

    max_connections: int = 4
    timeout_seconds: float = 60.0
    helo_hostname: str | None = None
    egress: EgressPolicy = EgressPolicy()
    """Where connections may go; by default no internal address at all."""
    tls_ca_file: str | None = None
    """CAs trusted beside the system's when a certificate is verified (a private CA's relay)."""


class SmtpLogin(Protocol):
    async def __call__(self, client: aiosmtplib.SMTP) -> None:
        """Authenticate on a connection that is encrypted as the settings say; raise as aiosmtplib does."""
        ...


class ConnectionSetupFailed(Exception):
    """A connection could not be made ready to send; the message says why in sendpool's words, for a
    person to act on, and never quotes the server."""

    def __init__(self, reason: str, reply_code: int | None = None) -> None:
        super().__init__(reason)
        self.reply_code = reply_code


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


def _setup_failure(exc: BaseException) -> str:
    """Why a connection could not be made ready, without the server's own words: only the class of
    its reply code. aiosmtplib's and the TLS library's own messages are this worker's, not the server's."""
    if isinstance(exc, SMTPAuthenticationError):
        return f"authentication failed: the server refused the login (SMTP {exc.code // 100}xx)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS failed: the server's certificate did not verify ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, SMTPResponseException):
        return f"the server refused the session before it was ready to send (SMTP {exc.code // 100}xx)"
    if isinstance(exc, SMTPTimeoutError | TimeoutError):
        return "the server did not answer in time"
    return str(exc) or type(exc).__name__


def _discard(client: aiosmtplib.SMTP, sock: socket.socket) -> None:
    """Close a connection that never became ready. Once a transport holds the socket, closing it is
    the transport's (a TLS transport closes it after its own goodbye): closed here as well, its file
    descriptor could go to the next connection while the old transport still watches it."""
    if client.transport is None:
        sock.close()
    client.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye politely if the server still listens; close the socket in any case."""
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), QUIT_TIMEOUT_SECONDS)
    except (SMTPException, OSError, TimeoutError):
        pass
    finally:
        client.close()


class _ConnectionPool:
    """At most `max_size` connections to one server; idle ones are reused newest first."""

    def __init__(self, open_connection: Callable[[], Awaitable[aiosmtplib.SMTP]], max_size: int) -> None:
        self._open_connection = open_connection
        self._slots = asyncio.Semaphore(max_size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._closing: set[asyncio.Task[None]] = set()
        """Connections being closed in the background (`release_soon`)."""
        self._closed = False

    async def acquire(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A ready connection, and whether it served before (then it may have gone stale)."""
        await self._slots.acquire()
        try:
            while self._idle:
                client, idle_since = self._idle.pop()
                if client.is_connected and time.monotonic() - idle_since < IDLE_CONNECTION_SECONDS:
                    return client, True
                await _quit(client)
            return await self._open_connection(), False
        except BaseException:
            self._slots.release()
            raise

    async def release(self, client: aiosmtplib.SMTP, *, reusable: bool) -> None:
        try:
            if reusable and not self._closed and client.is_connected:
                self._idle.append((client, time.monotonic()))
            else:
                await _quit(client)
        finally:
            self._slots.release()

    def release_soon(self, client: aiosmtplib.SMTP, *, reusable: bool) -> None:
        """`release` without waiting for it: the connection is kept at once, or closed in the background."""
        if reusable and not self._closed and client.is_connected:
            self._idle.append((client, time.monotonic()))
            self._slots.release()
            return
        closing = asyncio.create_task(self.release(client, reusable=False), name="smtp-quit")
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close idle connections now; those in use are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client, _ in idle), *self._closing)


@dataclass(frozen=True)
class _Transaction:
    outcome: SendOutcome
    reusable: bool
    nothing_sent: bool = False
    """The connection failed before the server saw the message: a fresh connection may simply try again."""


class SmtpSender:
    def __init__(
        self, settings: SmtpSettings, options: SmtpOptions, *, login: SmtpLogin | None = None
    ) -> None:
        """`login` replaces AUTH with `username` and `password` (e.g. XOAUTH2 with a fresh token)."""
        self._settings = settings
        self._options = options
        self._login = login or self._login_with_password
        self._pool = _ConnectionPool(self._open, options.max_connections)
        self._span_attributes: dict[str, str | int] = {
            "server.address": settings.host,
            "server.port": settings.port,
        }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], options: SmtpOptions) -> "SmtpSender":
        return cls(parse_server_settings(SmtpSettings, settings, "SMTP"), options)

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        try:
            return await self.deliver(message)
        except ConnectionSetupFailed as exc:
            return Deferred(
                exc.reply_code, None, f"could not open a connection: {exc}", connection_failure=True
            )

    async def deliver(self, message: OutgoingMessage) -> SendOutcome:
        """Like `send`, but raises `ConnectionSetupFailed` when no connection could be made ready,
        for a caller that has other hosts to try (delivery straight to MX hosts)."""
        content = message.as_bytes()
        while True:
            client, reused = await self._pool.acquire()
            try:
                with tracing.child_span("smtp.send", self._span_attributes) as span:
                    transaction = await self._transact(client, message, content)
                    if span is not None:
                        span.set_attributes({**trace_attributes(transaction.outcome), "smtp.reused": reused})
            except BaseException:
                # Unforeseen (a bug, an encoding the client refuses) or cancelled: the connection is
                # mid-transaction, so it is closed, and its slot is given back either way. Kept, the
                # slot would be lost for good, and a recipient retried a few times would leave the
                # server with no connection to send the others through.
                self._pool.release_soon(client, reusable=False)
                raise
            # A reused connection the server had dropped is not the message's fault: try the next one.
            if transaction.nothing_sent and reused:
                await self._pool.release(client, reusable=False)
                continue
            # The outcome goes to be recorded at once; saying QUIT on a connection not kept waits
            # for nobody, since until the record is written a crash would send the message again.
            self._pool.release_soon(client, reusable=transaction.reusable)
            return transaction.outcome

    async def probe(self) -> ProbeResult:
        try:
            client = await self._open()
        except ConnectionSetupFailed as exc:
            return ProbeResult(ok=False, message=f"Connection failed: {exc}")
        await _quit(client)
        return ProbeResult(ok=True, message="Connection successful.")

    async def close(self) -> None:
        await self._pool.close()

    async def _open(self) -> aiosmtplib.SMTP:
        """A connection that is encrypted and authenticated as the settings say, ready for MAIL FROM."""
        settings, options = self._settings, self._options
        where = {"host": settings.host, "port": settings.port}
        try:
            sock = await options.egress.connect_socket(
                settings.host, settings.port, timeout=options.timeout_seconds
            )
        except EgressRefused as exc:
            log.warning("SMTP connection refused by the egress policy", **where, reason=str(exc))
            raise ConnectionSetupFailed(f"refused by egress policy: {exc}") from None
        except UnknownHost as exc:
            log.warning("SMTP host not found", **where, error=str(exc))
            raise ConnectionSetupFailed(f"{settings.host} does not resolve to any address") from None
        except OSError as exc:
            log.warning("SMTP connection failed", **where, error=str(exc))
            raise ConnectionSetupFailed(
                f"could not connect to {settings.host} port {settings.port}"
            ) from None
        client = aiosmtplib.SMTP(
            hostname=settings.host,  # for TLS: SNI and the certificate's name; the socket is connected already
            sock=sock,
            use_tls=settings.encryption == "ssl",
            start_tls=False,  # done below, so that a server without STARTTLS is refused, not used in clear
            validate_certs=settings.verify_certificate,
            cert_bundle=options.tls_ca_file,
            timeout=options.timeout_seconds,
            local_hostname=options.helo_hostname,
        )
        try:
            await self._handshake(client)
        except ConnectionSetupFailed:
            _discard(client, sock)
            raise
        except (SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            _discard(client, sock)
            log.warning("SMTP connection could not be made ready", **where, error=_describe(exc))
            reply_code = exc.code if isinstance(exc, SMTPResponseException) else None
            raise ConnectionSetupFailed(_setup_failure(exc), reply_code) from None
        return client

    async def _handshake(self, client: aiosmtplib.SMTP) -> None:
        settings = self._settings
        await client.connect()
        if settings.encryption in ("tls", "opportunistic"):
            await client.ehlo()
            if client.supports_extension("starttls"):
                await client.starttls()
            elif settings.encryption == "tls":
                raise ConnectionSetupFailed(
                    "the server does not offer STARTTLS, and encryption 'tls' never falls back to plain text"
                )
        await self._login(client)

    async def _login_with_password(self, client: aiosmtplib.SMTP) -> None:
        settings = self._settings
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            await client.login(settings.username, password)

    async def _transact(
        self, client: aiosmtplib.SMTP, message: OutgoingMessage, content: bytes
    ) -> _Transaction:
        try:
            await client.mail(message.envelope_from)
            await client.rcpt(message.recipient)
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            lost = Deferred(None, None, f"connection lost before the message was sent: {_describe(exc)}")
            return _Transaction(lost, reusable=False, nothing_sent=True)
        except SMTPResponseException as exc:
            return await self._refused(client, exc)
        try:
            reply = await client.data(content)
        except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
            # The server never said it took the message, so it is not the server's yet: deferred and
            # tried again, as Postfix does. aiosmtplib sends DATA and the content in one call, so a
            # loss before the final dot cannot be told from one after it, when the server may have
            # kept the message: `maybe_delivered` has a later attempt reported `unknown`.
            lost = Deferred(
                None,
                None,
                f"connection lost after the message was transmitted, before the server's reply: {_describe(exc)}",
                maybe_delivered=True,
            )
            return _Transaction(lost, reusable=False)
        except SMTPResponseException as exc:
            return await self._refused(client, exc)
        outcome, _ = _interpret(reply.code, reply.message)
        return _Transaction(outcome, reusable=True)

    async def _refused(self, client: aiosmtplib.SMTP, exc: SMTPResponseException) -> _Transaction:
        outcome, close_connection = _interpret(exc.code, exc.message)
        reusable = not close_connection and await _reset(client)
        return _Transaction(outcome, reusable=reusable)


async def _reset(client: aiosmtplib.SMTP) -> bool:
    """Abandon the current transaction; False when the connection is not fit for another message."""
    try:
        await client.rset()
    except (SMTPException, OSError):
        return False
    return client.is_connected


def _interpret(reply_code: int, reply_text: str) -> tuple[SendOutcome, bool]:
    """The outcome a reply means, and whether the connection must be closed after it."""
    enhanced_code = enhanced_code_of(reply_text)
    rule = classify(reply_code, enhanced_code)
    match rule.reply_class:
        case ReplyClass.ACCEPTED:
            outcome: SendOutcome = Sent(queue_id_of(reply_text), reply_code, reply_text)
        case ReplyClass.TRANSIENT:
            outcome = Deferred(reply_code, enhanced_code, reply_text)
        case ReplyClass.PERMANENT:
            outcome = Failed(reply_code, enhanced_code, reply_text)
    return outcome, rule.close_connection
