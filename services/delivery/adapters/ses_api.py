"""Amazon SES v2 `SendEmail` with raw content (type `ses_api`), signed with AWS Signature Version 4.

The raw MIME is the message exactly as composed (and signed) here, so SES only adds its own
DKIM signature and Return-Path. The probe is `GetAccount`: it proves the credentials and says
whether the account may send at all.
"""

import base64
import re
from collections.abc import Generator
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import Field, SecretStr

from services.delivery.adapters.http_api import ApiCall, VendorReply, json_of
from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.domain.http_codes import SES_RULES
from services.delivery.domain.mime import OutgoingMessage

SIGNING_NAME = "ses"
"""SES v2's endpoint is `email.<region>`, but its requests are signed for the service `ses`."""


class SesApiSettings(AdapterSettings):
    access_key_id: str = Field(min_length=1)
    secret_access_key: SecretStr
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", description="e.g. eu-west-1")
    configuration_set: str | None = None
    base_url: str | None = Field(None, description="Replaces https://email.<region>.amazonaws.com")


class AwsSigV4(httpx.Auth):
    """Signs each request as an AWS SDK would (botocore's signer), including its body."""

    requires_request_body = True

    def __init__(self, access_key_id: str, secret_access_key: str, region: str) -> None:
        self._signer = SigV4Auth(Credentials(access_key_id, secret_access_key), SIGNING_NAME, region)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = (
            {"Content-Type": request.headers["Content-Type"]} if "Content-Type" in request.headers else {}
        )
        signed = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        self._signer.add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


class SesApi:
    vendor = "SES"
    rules = SES_RULES

    def __init__(self, settings: SesApiSettings) -> None:
        self._settings = settings
        self.base_url = settings.base_url or f"https://email.{settings.region}.amazonaws.com"
        self.auth = AwsSigV4(
            settings.access_key_id, settings.secret_access_key.get_secret_value(), settings.region
        )

    def send_call(self, message: OutgoingMessage) -> ApiCall:
        body: dict[str, Any] = {
            # The address SES checks against its verified identities: the From header's, not the
            # envelope sender, which SES replaces with its own bounce address anyway.
            "FromEmailAddress": message.from_address,
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": base64.b64encode(message.as_bytes()).decode("ascii")}},
        }
        if self._settings.configuration_set:
            body["ConfigurationSetName"] = self._settings.configuration_set
        return ApiCall("POST", "/v2/email/outbound-emails", json=body)

    def probe_call(self) -> ApiCall:
        return ApiCall("GET", "/v2/email/account")

    def read(self, response: httpx.Response) -> VendorReply:
        body = json_of(response)
        if response.is_success:
            return VendorReply(message_id=body.get("MessageId") if isinstance(body, dict) else None)
        if isinstance(body, dict):
            return VendorReply(
                error_code=_error_type(
                    response.headers.get("x-amzn-ErrorType") or body.get("__type") or body.get("code")
                ),
                reason=str(body.get("message") or body.get("Message") or ""),
            )
        # Requests refused before reaching SES proper (a bad signature, say) may come as AWS's XML.
        return VendorReply(
            error_code=_error_type(
                response.headers.get("x-amzn-ErrorType") or _xml_field(response.text, "Code")
            ),
            reason=_xml_field(response.text, "Message") or response.text[:200],
        )

    def unable_to_send(self, probe_response: httpx.Response) -> str | None:
        account = json_of(probe_response)
        if isinstance(account, dict) and account.get("SendingEnabled") is False:
            return f"sending is disabled for this SES account in {self._settings.region}"
        return None


def _error_type(value: str | None) -> str | None:
    """`MessageRejected` out of `MessageRejected:http://internal.amazon.com/...` or `ns#MessageRejected`."""
    if not value:
        return None
    return value.split(":", 1)[0].rsplit("#", 1)[-1] or None


def _xml_field(text: str, name: str) -> str | None:
    found = re.search(rf"<{name}>([^<]*)</{name}>", text)
    return found.group(1) if found else None
