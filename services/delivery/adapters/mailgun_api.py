"""Mailgun's `POST /v3/{domain}/messages.mime` (type `mailgun_api`): the raw MIME as a file upload.

The probe fetches the sending domain (`GET /v4/domains/{domain}`), which proves the key and
shows whether Mailgun lets the domain send yet.
"""

from typing import Literal
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr

from services.delivery.adapters.http_api import ApiCall, VendorReply, json_of
from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.domain.http_codes import MAILGUN_RULES
from services.delivery.domain.mime import OutgoingMessage

BASE_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


class MailgunApiSettings(AdapterSettings):
    api_key: SecretStr
    domain: str = Field(min_length=1)
    region: Literal["us", "eu"] = "us"
    base_url: str | None = Field(None, description="Replaces the region's https://api(.eu).mailgun.net")


class MailgunApi:
    vendor = "Mailgun"
    rules = MAILGUN_RULES

    def __init__(self, settings: MailgunApiSettings) -> None:
        self._domain = settings.domain
        self.base_url = settings.base_url or BASE_URLS[settings.region]
        self.auth = httpx.BasicAuth("api", settings.api_key.get_secret_value())

    def send_call(self, message: OutgoingMessage) -> ApiCall:
        return ApiCall(
            "POST",
            f"/v3/{quote(self._domain, safe='')}/messages.mime",
            data={
                "to": message.recipient,
                # Carried into Mailgun's event webhooks, so a bounce finds its message.
                "v:sendpool_message_id": str(message.message_id),
            },
            # The spec's field is a binary string, whose default part type is application/octet-stream.
            files={"message": ("message.eml", message.as_bytes(), "application/octet-stream")},
        )

    def probe_call(self) -> ApiCall:
        return ApiCall("GET", f"/v4/domains/{quote(self._domain, safe='')}")

    def read(self, response: httpx.Response) -> VendorReply:
        body = json_of(response)
        if not isinstance(body, dict):  # a refused key gets a bare "Forbidden"
            return VendorReply(reason=response.text.strip()[:200])
        if response.is_success:
            return VendorReply(
                message_id=_without_brackets(body.get("id")), reason=str(body.get("message") or "")
            )
        return VendorReply(reason=str(body.get("message") or ""))

    def unable_to_send(self, probe_response: httpx.Response) -> str | None:
        body = json_of(probe_response)
        domain = body.get("domain") if isinstance(body, dict) else None
        state = domain.get("state") if isinstance(domain, dict) else None
        if state is not None and state != "active":
            # Only Mailgun's documented states are repeated: the answer's text is not shown as it came.
            shown = repr(state) if state in ("unverified", "disabled") else "a state other than active"
            return f"Mailgun has the domain {self._domain} as {shown}, not active: it cannot send yet"
        return None


def _without_brackets(message_id: object) -> str | None:
    return str(message_id).strip("<>") if message_id else None
