"""SMTP sinks that misbehave on request, chosen by the recipient's local part.

`bounce…@` is refused at RCPT (550 5.1.1), `later…@` is greylisted at RCPT (451 4.7.1),
`closing…@` gets 421 at RCPT, `full…@` gets 552 5.2.2 after DATA, and the message to
`vanish…@` is received but the connection is cut before the final reply. The connection is
also cut after the content, before any reply, for `dropfirst…@` (its first transmission only:
the next one is accepted) and `dropalways…@` (every time); those transmissions are counted in
`dropped`, not kept as received. `nul…@` and `mojibake…@` are accepted with a reply text holding
NUL and other control bytes, or bytes that are no UTF-8. `slow…@` is accepted after a second.
Anything else is accepted with a queue id. The sink counts EHLOs (connections) and QUITs, and
can drop every open connection.
"""

import asyncio
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.smtp import Received, RecordingHandler, SmtpSink

T = TypeVar("T")

RCPT_REPLIES = {
    "bounce": "550 5.1.1 No such user here",
    "later": "451 4.7.1 Greylisted, try again later",
    "closing": "421 4.3.2 Service shutting down",
}
DATA_REPLIES = {"full": "552 5.2.2 Mailbox full"}
UNSAFE_REPLIES = {
    "nul": b"250 2.0.0 Ok: queued as N\x00UL\x01\x1b[31m with\x00 NULs",
    "mojibake": b"250 2.0.0 Ok: queued as \xff\xfe\xc3\x28 M0J1BAKE \xed\xa0\x80 end",
}
SLOW_REPLY_SECONDS = 1.0


def _script(address: str, replies: dict[str, T]) -> T | None:
    local_part = address.split("@", 1)[0]
    return next((reply for prefix, reply in replies.items() if local_part.startswith(prefix)), None)


@dataclass
class ScriptedHandler(RecordingHandler):
    ehlo_count: int = 0
    quit_count: int = 0
    open_servers: list = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Recipients of transmissions cut after the content, before any reply (`dropfirst`, `dropalways`)."""

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        with self.lock:
            self.quit_count += 1
        return "221 Bye"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd hook
        with self.lock:
            self.ehlo_count += 1
            self.open_servers.append(server)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if scripted := _script(address, RCPT_REPLIES):
            return scripted
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        recipient = envelope.rcpt_tos[0]
        if scripted := _script(recipient, DATA_REPLIES):
            return scripted
        if recipient.startswith("dropalways") or (
            recipient.startswith("dropfirst") and recipient not in self.dropped
        ):
            with self.lock:
                self.dropped.append(recipient)
            server.transport.close()  # the whole message arrived; no reply ever leaves
            return "250 2.0.0 Ok: never heard"
        if recipient.startswith("slow"):
            await asyncio.sleep(SLOW_REPLY_SECONDS)
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            queue_id = f"Q{len(self.messages):05d}"
        if recipient.startswith("vanish"):
            server.transport.close()  # the message arrived, but the client never hears so
            return "250 2.0.0 Ok: never heard"
        if unsafe := _script(recipient, UNSAFE_REPLIES):
            return unsafe  # aiosmtpd writes bytes as they are
        return f"250 2.0.0 Ok: queued as {queue_id}"


class ScriptedSink(SmtpSink):
    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self.handler = ScriptedHandler()
        options: dict = {"ssl_context": implicit_tls}
        if auth is not None:

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (
                    isinstance(auth_data, LoginPassword)
                    and (auth_data.login.decode(), auth_data.password.decode()) == auth
                )
                # handled=False: aiosmtpd then answers 535 itself. (tests/support's SmtpSink leaves
                # the default handled=True, so a wrong password gets no reply and the client hangs.)
                return AuthResult(success=ok, handled=False)

            options.update(
                authenticator=authenticator, auth_require_tls=starttls is not None or implicit_tls is not None
            )
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=require_starttls)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    @property
    def connections(self) -> int:
        return self.handler.ehlo_count

    @property
    def quits(self) -> int:
        return self.handler.quit_count

    def drop_connections(self) -> None:
        """Close every connection from the server's side, as a server does with idle clients."""
        with self.handler.lock:
            servers, self.handler.open_servers = self.handler.open_servers, []
        for server in servers:
            if server.transport is not None:
                self.controller.loop.call_soon_threadsafe(server.transport.close)

    def dropped_to(self, recipient: str) -> int:
        with self.handler.lock:
            return self.handler.dropped.count(recipient)

    def to(self, recipient: str) -> list[Received]:
        return [message for message in self.messages if recipient in message.rcpt_tos]


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sink.crt", directory / "sink.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
