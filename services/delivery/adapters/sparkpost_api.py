"""SparkPost Transmissions (type `sparkpost_api`), with the raw MIME as `content.email_rfc822`.

SparkPost answers 200 even when it rejected the transmission's only recipient; the adapter
reports that as its own error code so the vendor's table decides it. The probe reads the
account (`GET /api/v1/account`), which sends nothing.
"""

from typing import Literal

import httpx
from pydantic import Field, SecretStr

from services.delivery.adapters.http_api import ApiCall, HeaderAuth, VendorReply, json_of
from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.domain.http_codes import SPARKPOST_RECIPIENTS_REJECTED, SPARKPOST_RULES
from services.delivery.domain.mime import OutgoingMessage

BASE_URLS = {"us": "https://api.sparkpost.com", "eu": "https://api.eu.sparkpost.com"}


class SparkpostApiSettings(AdapterSettings):
    api_key: SecretStr
    region: Literal["us", "eu"] = "us"
    base_url: str | None = Field(None, description="Replaces the region's https://api(.eu).sparkpost.com")


class SparkpostApi:
    vendor = "SparkPost"
    rules = SPARKPOST_RULES

    def __init__(self, settings: SparkpostApiSettings) -> None:
        self.base_url = settings.base_url or BASE_URLS[settings.region]
        self.auth = HeaderAuth("Authorization", settings.api_key.get_secret_value())

    def send_call(self, message: OutgoingMessage) -> ApiCall:
        return ApiCall(
            "POST",
            "/api/v1/transmissions",
            json={
                "recipients": [{"address": {"email": message.recipient}}],
                # The message is 7-bit (quoted-printable bodies, encoded-word headers), so ASCII holds it.
                "content": {"email_rfc822": message.as_bytes().decode("ascii")},
                # Carried into SparkPost's event webhooks, so a bounce finds its message.
                "metadata": {"sendpool_message_id": str(message.message_id)},
            },
        )

    def probe_call(self) -> ApiCall:
        return ApiCall("GET", "/api/v1/account")

    def read(self, response: httpx.Response) -> VendorReply:
        body = json_of(response)
        if not isinstance(body, dict):
            return VendorReply(reason=response.text.strip()[:200])
        results = body.get("results")
        if response.is_success and isinstance(results, dict):
            if results.get("total_accepted_recipients") == 0:
                return VendorReply(
                    error_code=SPARKPOST_RECIPIENTS_REJECTED,
                    reason=f"{results.get('total_rejected_recipients')} recipient(s) rejected",
                )
            return VendorReply(message_id=_text(results.get("id")))
        errors = [error for error in body.get("errors") or [] if isinstance(error, dict)]
        if not errors:
            return VendorReply()
        return VendorReply(
            error_code=_text(errors[0].get("code")),
            reason="; ".join(
                ": ".join(str(error[key]) for key in ("message", "description") if error.get(key))
                for error in errors
            ),
        )

    def unable_to_send(self, probe_response: httpx.Response) -> str | None:
        return None


def _text(value: object) -> str | None:
    return str(value) if value is not None else None
