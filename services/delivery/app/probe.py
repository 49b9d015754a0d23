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

from services.delivery.app.ports import Catalog, CatalogUnavailable, Sender, SenderFactory, UnusableServer
from services.delivery.domain.dkim import dkim_signed
from services.delivery.domain.identity import InvalidIdentity, SenderIdentity, identity_from_settings
from services.delivery.domain.mime import InvalidMessage, compose
from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown
from services.delivery.domain.verp import with_return_path
from shared.contracts import ProbeRequest, ProbeResult, utcnow

log = structlog.get_logger("delivery.probe")


class ProbeServer:
    def __init__(
        self,
        catalog: Catalog,
        build_sender: SenderFactory,
        *,
        verp_secret: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._catalog = catalog
        self._build_sender = build_sender
        self._verp_secret = verp_secret
        self._clock = clock

    async def __call__(self, request: ProbeRequest) -> ProbeResult:
        # The request names the server only (it waits in a queue on disk): its secrets come point to
        # point from the catalog, whatever the server's state, since a server is tested before it is enabled.
        try:
            server = await self._catalog.server_settings(request.server_id)
            identity = identity_from_settings(server.settings.identity)
            sender = self._build_sender(server.type, server.settings)
        except (UnusableServer, InvalidIdentity) as exc:
            return ProbeResult(ok=False, message=f"Connection failed: {exc}")
        except CatalogUnavailable as exc:
            log.warning("probe without settings", server_id=str(request.server_id), reason=str(exc))
            return ProbeResult(
                ok=False, message=f"Connection not tested: the server's settings could not be read ({exc})"
            )
        try:
            result = await sender.probe()
            if result.ok and request.test_recipient is not None:
                result = await self._send_test_message(sender, identity, request, request.test_recipient)
        except Exception:  # the catalog waits for an answer: a bug must still produce one
            log.exception("probe failed unexpectedly", server_id=str(request.server_id))
            result = ProbeResult(
                ok=False,
                message="Connection failed: an unexpected error in the delivery worker "
                "(its log has the details for the operator)",
            )
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
        # The tenant reads the result: the server's codes, never its reply text (which is whatever
        # answers at the host the tenant named); the worker's log keeps the whole reply.
        outcome = await sender.send(message)
        log.info("test message sent", server_id=str(request.server_id), outcome=repr(outcome))
        match outcome:
            case Sent(reply_code=code):
                return ProbeResult(
                    ok=True,
                    message=f"Connection successful. Test message sent to {recipient} "
                    f"(accepted{_codes(code, None)}).",
                )
            case Deferred(reply_code=None, reply_text=reason) | Failed(reply_code=None, reply_text=reason):
                # No server answered (no connection, every MX host refused by the egress policy): the
                # reason is sendpool's own words.
                return ProbeResult(ok=False, message=f"Test message to {recipient} was not sent: {reason}")
            case Deferred(reply_code=code, enhanced_code=enhanced):
                return ProbeResult(
                    ok=False,
                    message=f"Test message to {recipient} was not accepted for now{_codes(code, enhanced)}.",
                )
            case Failed(reply_code=code, enhanced_code=enhanced):
                return ProbeResult(
                    ok=False, message=f"Test message to {recipient} was refused{_codes(code, enhanced)}."
                )
            case Unknown():
                return ProbeResult(
                    ok=False,
                    message=f"Test message to {recipient} may not have been accepted: it was handed over, "
                    "but no answer came",
                )


def _codes(reply_code: int | None, enhanced_code: str | None) -> str:
    """`: reply 554, 5.7.1`: the numbers a server answered with, which say what happened without its words."""
    codes = [f"reply {reply_code}"] if reply_code is not None else []
    codes += [enhanced_code] if enhanced_code else []
    return f": {', '.join(codes)}" if codes else ""
