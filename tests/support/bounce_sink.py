"""A receiving mail server that bounces some of what it accepted, as a real MTA does.

`BounceSink` is an aiosmtpd server (like `SmtpSink`) that answers 250 to every message and then,
for the recipients its `bounces` rule picks (by default a deterministic one in ten, `one_in_ten`),
sends an RFC 3464 delivery status notification back to the message's envelope sender (the VERP
Return-Path `bounces+<token>@<domain>`) at the bounce endpoint it is given, with `MAIL FROM:<>`.
In production the Return-Path domain's MX leads there; here the test names the host and port.

The DSN goes out after the 250, on the sink's own event loop, and is retried while the endpoint
refuses connections or answers 4xx (it may not be listening yet), for `retry_seconds`. Every DSN
sent is recorded (`dsns`), and every one given up on (`undelivered`).

    with BounceSink(bounce_to=("127.0.0.1", stack_bounce_port)) as sink:
        ...  # a server on 127.0.0.1:sink.port
        sink.drain()  # every DSN sent or given up on
        bounced = {dsn.recipient for dsn in sink.dsns}
"""

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller

from services.delivery.domain.mime import SENDPOOL_ID_HEADER
from tests.support.smtp import Received, RecordingHandler
from tools.stack.ports import free_port

REPORTING_MTA = "sink.sendpool.test"

log = logging.getLogger(__name__)


def one_in_ten(address: str) -> bool:
    """A deterministic tenth of all addresses (by a hash of the lower-cased address): the same
    recipients bounce in every run and at every sink."""
    digest = hashlib.sha256(address.strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10 == 0


@dataclass(frozen=True)
class SentDsn:
    """A DSN the sink delivered to the bounce endpoint."""

    recipient: str
    """The recipient it reports as failed."""
    return_path: str
    """The envelope sender of the bounced message, to which the DSN was addressed (RCPT TO)."""
    sendpool_message_id: str | None
    """The returned message's `X-Sendpool-Message-Id`, if it had one."""
    raw: bytes
    attempts: int
    sent_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class UndeliveredDsn:
    recipient: str
    return_path: str
    attempts: int
    error: str


def returned_headers(original: bytes) -> str:
    """The original message's header block, as a DSN returns it (`text/rfc822-headers`)."""
    normalised = original.replace(b"\r\n", b"\n")
    head, _, _ = normalised.partition(b"\n\n")
    return head.decode("ascii", errors="replace") + "\n"


def delivery_status_notification(
    original: bytes,
    recipient: str,
    return_path: str,
    *,
    reporting_mta: str = REPORTING_MTA,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 user unknown",
    arrived_at: datetime | None = None,
) -> MIMEMultipart:
    """An RFC 3464 DSN (as Postfix writes one) saying `original` could not be delivered to
    `recipient`: a human-readable part, the `message/delivery-status` part (per-message and
    per-recipient fields), and the returned headers. Addressed to `return_path`, from the
    MAILER-DAEMON; sent with a null envelope sender."""
    arrived_at = arrived_at or datetime.now(UTC)

    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"MAILER-DAEMON@{reporting_mta} (Mail Delivery System)"
    report["To"] = return_path
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = format_datetime(datetime.now(UTC))
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"

    report.attach(
        MIMEText(
            f"This is the mail system at host {reporting_mta}.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"<{recipient}>: host {reporting_mta} said: {diagnostic.removeprefix('smtp; ')}\n",
            "plain",
            "us-ascii",
        )
    )

    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    per_message["Arrival-Date"] = format_datetime(arrived_at)
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = f"dns; {reporting_mta}"
    per_recipient["Diagnostic-Code"] = diagnostic
    delivery_status = MIMEBase("message", "delivery-status")
    del delivery_status["MIME-Version"]
    delivery_status.set_payload([per_message, per_recipient])
    report.attach(delivery_status)

    headers = MIMEText(returned_headers(original), "rfc822-headers", "us-ascii")
    del headers["MIME-Version"]
    report.attach(headers)
    return report


@dataclass
class BouncingHandler(RecordingHandler):
    """Accepts and records every message, then sends DSNs for the recipients `bounces` picks."""

    bounce_to: tuple[str, int] | None = None
    bounces: Callable[[str], bool] = one_in_ten
    retry_seconds: float = 30.0
    dsns: list[SentDsn] = field(default_factory=list)
    undelivered: list[UndeliveredDsn] = field(default_factory=list)
    pending: set["asyncio.Task[None]"] = field(default_factory=set)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        reply: str = await super().handle_DATA(server, session, envelope)  # type: ignore[no-untyped-call]
        # A null sender (`<>`, as aiosmtpd records it) marks a bounce: nobody to bounce it to.
        if reply.startswith("250") and self.bounce_to is not None and envelope.mail_from not in ("", "<>"):
            for recipient in envelope.rcpt_tos:
                if self.bounces(recipient):
                    # After the 250, as a real MTA bounces: the sender's session is long over.
                    task = asyncio.get_running_loop().create_task(
                        self._bounce(envelope.original_content, recipient, envelope.mail_from)
                    )
                    self.pending.add(task)
                    task.add_done_callback(self.pending.discard)
        return reply

    async def _bounce(self, original: bytes, recipient: str, return_path: str) -> None:
        assert self.bounce_to is not None
        host, port = self.bounce_to
        raw = delivery_status_notification(original, recipient, return_path).as_bytes(policy=SMTP)
        message_id = BytesHeaderParser().parsebytes(original).get(SENDPOOL_ID_HEADER)
        deadline = time.monotonic() + self.retry_seconds
        attempts, pause = 0, 0.2
        while True:
            attempts += 1
            try:
                # `aiosmtplib.send` refuses an empty sender; a DSN's is the null path `<>`.
                async with aiosmtplib.SMTP(hostname=host, port=port, timeout=10) as client:
                    await client.sendmail("", [return_path], raw)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as error:
                # A refused RCPT comes as a list of one, with its own reply.
                reply = error.recipients[0] if isinstance(error, aiosmtplib.SMTPRecipientsRefused) else error
                if reply.code >= 500 or time.monotonic() >= deadline:
                    self._give_up(recipient, return_path, attempts, f"{reply.code} {reply.message}")
                    return
            except (OSError, aiosmtplib.SMTPException) as error:
                if time.monotonic() >= deadline:
                    self._give_up(recipient, return_path, attempts, repr(error))
                    return
            else:
                with self.lock:
                    self.dsns.append(SentDsn(recipient, return_path, message_id, raw, attempts))
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _give_up(self, recipient: str, return_path: str, attempts: int, error: str) -> None:
        log.warning(
            "DSN for %s to %s given up after %d attempts: %s", recipient, return_path, attempts, error
        )
        with self.lock:
            self.undelivered.append(UndeliveredDsn(recipient, return_path, attempts, error))


class BounceSink:
    """An aiosmtpd server on a free local port that accepts everything and bounces some of it
    (see the module's docstring). `bounce_to` is the bounce endpoint (host, port); None bounces
    nothing. `bounces(recipient)` picks the recipients to bounce."""

    def __init__(
        self,
        bounce_to: tuple[str, int] | None,
        *,
        bounces: Callable[[str], bool] = one_in_ten,
        retry_seconds: float = 30.0,
    ) -> None:
        self.port = free_port()
        self.handler = BouncingHandler(bounce_to=bounce_to, bounces=bounces, retry_seconds=retry_seconds)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def dsns(self) -> list[SentDsn]:
        with self.handler.lock:
            return list(self.handler.dsns)

    @property
    def undelivered(self) -> list[UndeliveredDsn]:
        with self.handler.lock:
            return list(self.handler.undelivered)

    @property
    def bounced_recipients(self) -> set[str]:
        """The recipients whose DSN reached the bounce endpoint."""
        return {dsn.recipient for dsn in self.dsns}

    def drain(self, timeout: float = 60.0) -> None:
        """Until every DSN scheduled so far is sent or given up on; `TimeoutError` after `timeout`."""

        async def all_done() -> None:
            while self.handler.pending:
                await asyncio.wait(set(self.handler.pending))

        future = asyncio.run_coroutine_threadsafe(all_done(), self.controller.loop)
        try:
            future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"{len(self.handler.pending)} DSNs still unsent after {timeout:g}s") from None

    def __enter__(self) -> "BounceSink":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.drain(timeout=5)
        except TimeoutError:
            pass  # the test has its answer already; the rest dies with the loop
        finally:
            self.controller.stop()


__all__ = [
    "SENDPOOL_ID_HEADER",
    "BounceSink",
    "SentDsn",
    "UndeliveredDsn",
    "delivery_status_notification",
    "one_in_ten",
    "returned_headers",
]
