"""The Return-Path of a message: a signed VERP address that leads its bounces back to it.

The SMTP adapter uses it as MAIL FROM; an API adapter whose vendor accepts a Return-Path (or
envelope sender) passes `OutgoingMessage.envelope_from` on, or calls `return_path` itself.
"""

from dataclasses import replace
from uuid import UUID

from services.delivery.domain.identity import SenderIdentity
from services.delivery.domain.mime import OutgoingMessage
from shared.verp import verp_address


def return_path(message_id: UUID, from_domain: str, identity: SenderIdentity | None, secret: str) -> str:
    """`bounces+<token>@<domain>`: the identity's Return-Path domain, or else the From domain."""
    domain = (
        identity.return_path_domain if identity is not None and identity.return_path_domain else from_domain
    )
    return verp_address(message_id, domain, secret)


def with_return_path(
    message: OutgoingMessage, identity: SenderIdentity | None, secret: str
) -> OutgoingMessage:
    return replace(
        message, envelope_from=return_path(message.message_id, message.from_domain, identity, secret)
    )
