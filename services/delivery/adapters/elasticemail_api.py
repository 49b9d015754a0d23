"""Elastic Email v4 `POST /v4/emails/transactional` (type `elasticemail_api`).

Like SendGrid, Elastic Email builds the MIME from JSON fields, so the message is taken apart
(`domain.message_parts`). The probe lists the account's sending domains (`GET /v4/domains`),
which sends nothing.
"""

from typing import Any

import httpx
from pydantic import Field, SecretStr

from services.delivery.adapters.http_api import ApiCall, HeaderAuth, VendorReply, json_of
from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.domain.http_codes import ELASTICEMAIL_RULES
from services.delivery.domain.message_parts import parts_of
from services.delivery.domain.mime import OutgoingMessage

DEFAULT_BASE_URL = "https://api.elasticemail.com"


class ElasticemailApiSettings(AdapterSettings):
    api_key: SecretStr
    base_url: str | None = Field(None, description="Replaces https://api.elasticemail.com")


class ElasticemailApi:
    vendor = "Elastic Email"
    rules = ELASTICEMAIL_RULES

    def __init__(self, settings: ElasticemailApiSettings) -> None:
        self.base_url = settings.base_url or DEFAULT_BASE_URL
        self.auth = HeaderAuth("X-ElasticEmail-ApiKey", settings.api_key.get_secret_value())

    def send_call(self, message: OutgoingMessage) -> ApiCall:
        parts = parts_of(message)
        content: dict[str, Any] = {
            "From": str(parts.sender),
            "Subject": parts.subject,
            "Body": [
                {"ContentType": content_type, "Content": value, "Charset": "utf-8"}
                for content_type, value in (("PlainText", parts.text), ("HTML", parts.html))
                if value
            ],
            "Headers": parts.headers,
            # Carried into Elastic Email's notifications, so a bounce finds its message.
            "Postback": str(message.message_id),
        }
        if parts.reply_to is not None:
            content["ReplyTo"] = str(parts.reply_to)
        return ApiCall(
            "POST",
            "/v4/emails/transactional",
            json={"Recipients": {"To": [str(parts.recipient)]}, "Content": content},
        )

    def probe_call(self) -> ApiCall:
        return ApiCall("GET", "/v4/domains")

    def read(self, response: httpx.Response) -> VendorReply:
        body = json_of(response)
        if not isinstance(body, dict):
            return VendorReply(reason=response.text.strip()[:200])
        if response.is_success:
            return VendorReply(message_id=body.get("MessageID") or body.get("TransactionID"))
        return VendorReply(reason=str(body.get("Error") or body.get("error") or body.get("message") or ""))

    def unable_to_send(self, probe_response: httpx.Response) -> str | None:
        return None
