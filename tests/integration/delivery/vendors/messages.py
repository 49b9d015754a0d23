"""Messages for the vendor adapters, composed as the worker composes them."""

from datetime import UTC, datetime
from uuid import uuid4

from services.delivery.adapters.http_api import HttpOptions
from services.delivery.adapters.sendmail import DEFAULT_PATH as DEFAULT_SENDMAIL_PATH
from services.delivery.adapters.smtp import SmtpOptions
from services.delivery.adapters.vendors import VendorSenders
from services.delivery.app.ports import Sender
from services.delivery.domain.mime import OutgoingMessage, compose
from shared.contracts import ServerConnectionSettings
from tests.integration.delivery.messages import CONTENT, recipient
from tests.support.egress import LOCAL_SINKS
from tests.support.tls import ca_file

__all__ = ["CONTENT", "build_sender", "outgoing", "recipient"]


def outgoing(to: str | None = None, **content_changes) -> OutgoingMessage:
    content = CONTENT.model_copy(update=content_changes)
    return compose(uuid4(), content, to or recipient(), recipient_name="Ada Reader", now=datetime.now(UTC))


def build_sender(
    server_type: str,
    settings: dict,
    *,
    timeout_seconds: float = 5,
    sendmail_path: str = DEFAULT_SENDMAIL_PATH,
) -> Sender:
    """A sender as the worker builds it for a server of `server_type`; its sendmail program is `sendmail_path`."""
    senders = VendorSenders(
        SmtpOptions(
            max_connections=2, timeout_seconds=timeout_seconds, egress=LOCAL_SINKS, tls_ca_file=ca_file()
        ),
        http=HttpOptions(
            max_connections=2, timeout_seconds=timeout_seconds, egress=LOCAL_SINKS, tls_ca_file=ca_file()
        ),
        sendmail_path=sendmail_path,
    )
    return senders(server_type, ServerConnectionSettings.model_validate(settings))
