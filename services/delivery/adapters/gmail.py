"""Gmail over SMTP with OAuth 2.0 (type `gmail_oauth`): XOAUTH2 with an access token obtained from
the account's refresh token.

An access token is kept until shortly before it expires and shared by every connection of the
server. Google may revoke a token before then (a password change, say): a refused XOAUTH2 gets
one fresh token and one more try on the same connection, never more, so a revoked refresh
token cannot make the worker hammer Google.

The token endpoint is reached like any tenant-named destination, through the egress policy, and
what it answers is shown only as OAuth's registered error codes: a `token_url` pointing inside the
platform must neither connect nor read anything back.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib
import httpx
import structlog
from aiosmtplib import SMTPAuthenticationError
from pydantic import Field, SecretStr

from services.delivery.adapters.http_api import HttpOptions, egress_client, json_of
from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.adapters.smtp import ConnectionSetupFailed, SmtpOptions, SmtpSender, SmtpSettings
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import SendOutcome
from shared.contracts import ProbeResult
from shared.egress import EgressRefused

log = structlog.get_logger("delivery.gmail")

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"

OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
"""RFC 6749 section 5.2's error codes: the only words of the token endpoint's answer that are repeated."""

EXPIRY_MARGIN_SECONDS = 60.0
"""A token this close to its expiry is renewed first, so it cannot expire between EHLO and AUTH."""


class GmailSettings(AdapterSettings):
    email: str = Field(min_length=3)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr
    token_url: str = Field(GOOGLE_TOKEN_URL, description="Google's OAuth token endpoint (a test double's)")
    host: str | None = Field(None, min_length=1, pattern=r"^\S+$")
    port: int | None = Field(None, ge=1, le=65535)


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class AccessTokens:
    """Access tokens for one Google account, refreshed when they expire or are refused."""

    def __init__(
        self, settings: GmailSettings, http: httpx.AsyncClient, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()  # one refresh at a time, however many connections open at once

    async def current(self) -> str:
        async with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at - EXPIRY_MARGIN_SECONDS:
                token = self._token = await self._refresh()
            return token.value

    async def replace(self, refused: str) -> str:
        """A token other than `refused`; another connection may have replaced it already."""
        async with self._lock:
            if self._token is not None and self._token.value == refused:
                self._token = None
        return await self.current()

    async def _refresh(self) -> _Token:
        settings = self._settings
        try:
            response = await self._http.post(
                settings.token_url,
                data={
                    "grant_type": "refresh_token",
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret.get_secret_value(),
                    "refresh_token": settings.refresh_token.get_secret_value(),
                },
            )
        except EgressRefused as exc:
            log.warning("Google token endpoint refused by the egress policy", reason=str(exc))
            raise ConnectionSetupFailed(f"refused by egress policy: {exc}") from None
        except httpx.HTTPError as exc:
            log.warning("Google token endpoint unreachable", token_url=settings.token_url, error=repr(exc))
            raise ConnectionSetupFailed("could not reach Google's token endpoint") from None
        body = json_of(response)
        if not response.is_success or not isinstance(body, dict) or "access_token" not in body:
            said = body if isinstance(body, dict) and "access_token" not in body else {}
            log.warning(
                "Google refused the refresh token",
                status=response.status_code,
                error=str(said.get("error"))[:200],
                error_description=str(said.get("error_description"))[:200],
            )
            raise ConnectionSetupFailed(f"Google refused the refresh token: {_oauth_error(response, body)}")
        return _Token(body["access_token"], self._clock() + float(body.get("expires_in", 3600)))


def _oauth_error(response: httpx.Response, body: object) -> str:
    if isinstance(body, dict) and body.get("error") in OAUTH_ERRORS:
        return f"{body['error']} (HTTP {response.status_code})"
    return f"HTTP {response.status_code}"


class XOAuth2Login:
    """Authenticates an SMTP connection with XOAUTH2 (aiosmtplib answers Google's 334 challenge)."""

    def __init__(self, email: str, tokens: AccessTokens) -> None:
        self._email = email
        self._tokens = tokens

    async def __call__(self, client: aiosmtplib.SMTP) -> None:
        token = await self._tokens.current()
        try:
            await client.auth_xoauth2(self._email, token)
        except SMTPAuthenticationError:
            await client.auth_xoauth2(self._email, await self._tokens.replace(token))


class GmailSender:
    def __init__(self, settings: GmailSettings, options: SmtpOptions) -> None:
        self._http = egress_client(
            HttpOptions(
                max_connections=1,
                timeout_seconds=options.timeout_seconds,
                egress=options.egress,
                tls_ca_file=options.tls_ca_file,
            ),
            timeout=options.timeout_seconds,
        )
        self._smtp = SmtpSender(
            SmtpSettings(host=settings.host or "smtp.gmail.com", port=settings.port or 587, encryption="tls"),
            options,
            login=XOAuth2Login(settings.email, AccessTokens(settings, self._http)),
        )

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        return await self._smtp.send(message)

    async def probe(self) -> ProbeResult:
        return await self._smtp.probe()

    async def close(self) -> None:
        await self._smtp.close()
        await self._http.aclose()
