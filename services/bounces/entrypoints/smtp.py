"""The bounce mail endpoint's handler: the MX of the Return-Path domains.

RCPT: only VERP addresses (`bounces+<token>@any-domain`) are taken, else 550; any MAIL FROM (a
DSN comes from `<>`). DATA: the mail is classified (`classify_message`, off the event loop: a
mail may be 10 MiB) and handed to `FeedbackIntake.take` before the 250, so a 250 means the
feedback is durable; if it cannot be stored (PostgreSQL down) the answer is 451 and the sender
tries again. A token that does not verify (forged, garbled, another installation's) is still
accepted and the mail kept, unmatched: it acts on nothing, and the sender learns nothing.
"""

import asyncio
from dataclasses import replace
from typing import Any

import structlog

from services.bounces.app.ports import FeedbackIntake
from services.bounces.domain.classify import classify_message
from services.bounces.domain.feedback import Classification, Feedback
from shared.contracts import FeedbackClass
from shared.verp import VERP_PREFIX, parse_verp

log = structlog.get_logger("bounces.smtp")

ENVELOPE_DETAIL_MAX = 300


def is_verp_address(address: str) -> bool:
    local_part, at, _ = address.rpartition("@")
    return bool(at) and local_part.lower().startswith(VERP_PREFIX)


def _classify(raw: bytes) -> Classification:
    try:
        return classify_message(raw)
    except Exception as exc:  # the parser promises not to raise; a mail must never be lost if it does
        log.warning("classifying a mail failed; kept as unknown", error=repr(exc))
        return Classification(FeedbackClass.UNKNOWN, "classify.error")


class BounceMailHandler:
    """aiosmtpd's handler hooks (`handle_RCPT`, `handle_DATA`)."""

    def __init__(self, intake: FeedbackIntake, *, verp_secret: str, max_recipients: int) -> None:
        self._intake = intake
        self._verp_secret = verp_secret
        self._max_recipients = max_recipients

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not is_verp_address(address):
            return "550 5.1.1 No such mailbox here"
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        classification = await asyncio.to_thread(_classify, raw)
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else ""
        feedback = [
            self._feedback(raw, classification, recipient, envelope.mail_from or "", str(peer))
            for recipient in dict.fromkeys(address.lower() for address in envelope.rcpt_tos)
        ]
        try:
            await self._intake.take(feedback)
        except Exception as exc:
            log.warning("a bounce could not be stored; the sender will retry", error=repr(exc))
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 OK: kept"

    def _feedback(
        self, raw: bytes, classification: Classification, recipient: str, mail_from: str, peer: str
    ) -> Feedback:
        message_id = parse_verp(recipient, self._verp_secret)
        details = {
            "envelope_recipient": recipient[:ENVELOPE_DETAIL_MAX],
            "mail_from": mail_from[:ENVELOPE_DETAIL_MAX],
            "peer": peer[:64],
            "verp": "verified" if message_id is not None else "forged",
        }
        if message_id is None:
            # A token that does not verify is a forgery or garbage: nothing in the mail is believed either.
            classification = replace(classification, original_message_id=None)
        return Feedback(
            source="smtp", raw=raw, classification=classification, message_id=message_id, details=details
        )
