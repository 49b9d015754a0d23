"""Messages for the vendor adapters, composed as the worker composes them."""

from datetime import UTC, datetime
from uuid import uuid4

from services.delivery.adapters.http_api import HttpOptions
from services.delivery.adapters.smtp import SmtpOptions
from services.delivery.adapters.vendors import VendorSenders
from services.delivery.app.ports import Sender
from services.delivery.domain.mime import OutgoingMessage, compose
from shared.contracts import ServerConnectionSettings
from tests.integration.delivery.messages import CONTENT, recipient

__all__ = ["CONTENT", "build_sender", "outgoing", "recipient"]


def outgoing(to: str | None = None, **content_changes) -> OutgoingMessage:
    content = CONTENT.model_copy(update=content_changes)
    return compose(uuid4(), content, to or recipient(), recipient_name="Ada Reader", now=datetime.now(UTC))


def build_sender(server_type: str, settings: dict, *, timeout_seconds: float = 5) -> Sender:
    """A sender as the worker builds it for a server of `server_type`."""
    senders = VendorSenders(
        SmtpOptions(max_connections=2, timeout_seconds=timeout_seconds),
        http=HttpOptions(max_connections=2, timeout_seconds=timeout_seconds),
    )
    return senders(server_type, ServerConnectionSettings.model_validate(settings))
