"""Real SMTP servers for tests (aiosmtpd), each recording what it received."""

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tools.stack.ports import free_port


def password_authenticator(auth: tuple[str, str]) -> Callable[..., AuthResult]:
    """An aiosmtpd `authenticator` that accepts `auth`'s login and password alone; aiosmtpd itself
    answers any other with 535 (handled=False), so a client with a wrong password is not left waiting."""

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == auth
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    received_at: float = field(default_factory=time.time)
    """Wall-clock time (epoch seconds) when the message was accepted."""


@dataclass
class RecordingHandler:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reply: str = "250 2.0.0 Ok: queued"
    delay: float = 0.0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply.startswith("250"):
            with self.lock:
                self.messages.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
                )
        return self.reply


class SmtpSink:
    """An aiosmtpd server on a free local port; `.messages` lists what it accepted."""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        require_starttls: bool = False,
        tls_context=None,
        reply: str = "250 2.0.0 Ok: queued",
        delay: float = 0.0,
    ) -> None:
        """`delay` makes every DATA answer wait that long: a slow receiver, so mail queues up."""
        self.port = free_port()
        self.handler = RecordingHandler(reply=reply, delay=delay)
        kwargs: dict = {}
        if auth is not None:
            kwargs.update(
                authenticator=password_authenticator(auth), auth_require_tls=tls_context is not None
            )
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
