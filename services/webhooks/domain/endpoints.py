"""Rules of a webhook endpoint: its URL, its event types, its signing secrets."""

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""Standard Webhooks asks for 24 to 64 random bytes."""

MAX_DESCRIPTION_LENGTH = 500


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` and base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class UrlRefused(ValueError):
    """The URL is not one sendpool sends webhooks to; the message says why, fit for the tenant."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int


def destination_of(url: str, *, max_length: int, allow_http: bool) -> Destination:
    """The host and port `url` names, if its form is acceptable: https (http only where the operator
    allowed it, for development), a host, no credentials, no fragment, at most `max_length` long."""
    if len(url) > max_length:
        raise UrlRefused(f"is longer than {max_length} characters")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise UrlRefused("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"is not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_http):
        raise UrlRefused("must be an https:// URL")
    if not parts.hostname:
        raise UrlRefused("names no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials (user:password@)")
    if parts.fragment:
        raise UrlRefused("must not have a fragment (#...)")
    return Destination(scheme, parts.hostname, port or (443 if scheme == "https" else 80))


@dataclass(frozen=True)
class Endpoint:
    id: UUID
    tenant_id: UUID
    url: str
    description: str
    event_types: list[str] | None
    """None: every type, those to come included."""
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None
    next_attempt_at: datetime | None
    secret: str | None = None
    """Only when it was just created or rotated: shown once."""
