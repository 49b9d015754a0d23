"""SendGrid v3 Mail Send (type `sendgrid_api`).

Mail Send takes JSON fields, not a finished message: the message is taken apart
(`domain.message_parts`) and SendGrid builds and signs the MIME. The probe creates a mail batch
ID, the one authenticated call in the Mail API that sends nothing.
"""

from typing import Any

import httpx
from pydantic import Field, SecretStr

from services.delivery.adapters.http_api import ApiCall, HeaderAuth, VendorReply, json_of
from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.domain.http_codes import SENDGRID_RULES
from services.delivery.domain.message_parts import parts_of
from services.delivery.domain.mime import OutgoingMessage

DEFAULT_BASE_URL = "https://api.sendgrid.com"


class SendgridApiSettings(AdapterSettings):
    api_key: SecretStr
    base_url: str | None = Field(
        None, description="Replaces https://api.sendgrid.com (EU: api.eu.sendgrid.com)"
    )


class SendgridApi:
    vendor = "SendGrid"
    rules = SENDGRID_RULES

    def __init__(self, settings: SendgridApiSettings) -> None:
        self.base_url = settings.base_url or DEFAULT_BASE_URL
        self.auth = HeaderAuth("Authorization", f"Bearer {settings.api_key.get_secret_value()}")

    def send_call(self, message: OutgoingMessage) -> ApiCall:
        parts = parts_of(message)
        personalization: dict[str, Any] = {
            "to": [_address(parts.recipient.addr_spec, parts.recipient.display_name)],
            # Carried into SendGrid's event webhooks, so a bounce finds its message.
            "custom_args": {"sendpool_message_id": str(message.message_id)},
        }
        body: dict[str, Any] = {
            "personalizations": [personalization],
            "from": _address(parts.sender.addr_spec, parts.sender.display_name),
            "subject": parts.subject,
            # SendGrid wants text/plain before text/html.
            "content": [
                {"type": mime_type, "value": value}
                for mime_type, value in (("text/plain", parts.text), ("text/html", parts.html))
                if value
            ],
        }
        if parts.reply_to is not None:
            body["reply_to"] = _address(parts.reply_to.addr_spec, parts.reply_to.display_name)
        if parts.headers:
            body["headers"] = parts.headers
        return ApiCall("POST", "/v3/mail/send", json=body)

    def probe_call(self) -> ApiCall:
        return ApiCall("POST", "/v3/mail/batch")

    def read(self, response: httpx.Response) -> VendorReply:
        if response.is_success:
            return VendorReply(message_id=response.headers.get("X-Message-Id"))
        body = json_of(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list):
            return VendorReply(reason=response.text[:200])
        return VendorReply(
            reason="; ".join(_error_text(error) for error in errors if isinstance(error, dict))
        )

    def unable_to_send(self, probe_response: httpx.Response) -> str | None:
        return None


def _address(email: str, name: str) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def _error_text(error: dict[str, Any]) -> str:
    field = error.get("field")
    message = str(error.get("message") or "")
    return f"{message} (field {field})" if field and field != "null" else message
