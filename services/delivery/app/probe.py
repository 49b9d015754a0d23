"""Test a server's connection for real, and optionally push one test message through it.

The catalog asks before a server may be enabled. The answer is always a `ProbeResult`
saying in a person's words what went wrong, never an error the caller has to interpret. A
server whose identity the worker could not sign with fails here, not on its first campaign;
a test message goes out as campaign messages do, signed and with its VERP Return-Path.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

import structlog

from services.delivery.app.ports import Sender, SenderFactory, UnusableServer
from services.delivery.domain.dkim import dkim_signed
from services.delivery.domain.identity import InvalidIdentity, SenderIdentity, identity_from_settings
from services.delivery.domain.mime import InvalidMessage, compose
from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown
from services.delivery.domain.verp import with_return_path
from shared.contracts import ProbeRequest, ProbeResult, utcnow

log = structlog.get_logger("delivery.probe")


class ProbeServer:
    def __init__(
        self, build_sender: SenderFactory, *, verp_secret: str, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._build_sender = build_sender
        self._verp_secret = verp_secret
        self._clock = clock

    async def __call__(self, request: ProbeRequest) -> ProbeResult:
        try:
            identity = identity_from_settings(request.settings.identity)
            sender = self._build_sender(request.type, request.settings)
        except (UnusableServer, InvalidIdentity) as exc:
            return ProbeResult(ok=False, message=f"Connection failed: {exc}")
        try:
            result = await sender.probe()
            if result.ok and request.test_recipient is not None:
                result = await self._send_test_message(sender, identity, request, request.test_recipient)
        except Exception as exc:  # the catalog waits for an answer: a bug must still produce one
            log.exception("probe failed unexpectedly", server_id=str(request.server_id))
            result = ProbeResult(ok=False, message=f"Connection failed: unexpected error: {exc!r}")
        finally:
            await sender.close()
        log.info("server probed", server_id=str(request.server_id), ok=result.ok, message=result.message)
        return result

    async def _send_test_message(
        self, sender: Sender, identity: SenderIdentity | None, request: ProbeRequest, recipient: str
    ) -> ProbeResult:
        if request.test_content is None:
            return ProbeResult(
                ok=False,
                message="Connection successful, but no test message was sent: test_content is missing.",
            )
        try:
            message = compose(uuid4(), request.test_content, recipient, now=self._clock())
        except InvalidMessage as exc:
            return ProbeResult(
                ok=False, message=f"Connection successful, but the test message is invalid: {exc}"
            )
        message = with_return_path(message, identity, self._verp_secret)
        try:
            message = await asyncio.to_thread(dkim_signed, message, identity)
        except InvalidIdentity as exc:
            return ProbeResult(
                ok=False, message=f"Connection successful, but the test message cannot be signed: {exc}"
            )
        match await sender.send(message):
            case Sent(reply_code=code, reply_text=text):
                return ProbeResult(
                    ok=True,
                    message=f"Connection successful. Test message sent to {recipient} "
                    f"({_reply(code, text)}).",
                )
            case Deferred(reply_code=code, reply_text=text) | Failed(reply_code=code, reply_text=text):
                return ProbeResult(
                    ok=False, message=f"Test message to {recipient} was not accepted: {_reply(code, text)}"
                )
            case Unknown(reason=reason):
                return ProbeResult(
                    ok=False, message=f"Test message to {recipient} may not have been accepted: {reason}"
                )


def _reply(code: int | None, text: str) -> str:
    return f"{code} {text}" if code is not None else text
