"""One-click unsubscribe tokens (RFC 8058): the signed part of each message's `List-Unsubscribe` URL.

A delivery worker writes `<base URL>/unsubscribe/<token>` into every message; the bounces service
reads the token back when the recipient (or the recipient's mailbox provider) POSTs to it, and
suppresses the recipient for the tenant. The token names everything the bounces service needs
(tenant, campaign, message, recipient), so a link keeps working after the bounces service has
forgotten the message, and carries an HMAC-SHA256 over all of it, so nobody can unsubscribe an
address by making up a token.

Layout, URL-safe base64 without padding:
`version (1) | key id (4) | tenant (16) | campaign (16) | message (16) | MAC (16) | recipient (UTF-8)`.
The MAC is cut to 128 bits, which is far beyond guessing and keeps the URL short (about 130
characters for a typical address). The key id is derived from the secret (a hash of it), so that
the secret can be rotated: the bounces service keeps verifying tokens made with the previous
secrets for as long as it is given them, and picks the secret by the id without trying each.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from shared.limits import EMAIL_ADDRESS_MAX

_VERSION = 1
_KEY_ID_BYTES = 4
_MAC_BYTES = 16
_HEAD = 1 + _KEY_ID_BYTES + 3 * 16
TOKEN_MAX_CHARS = 2000
"""The longest token read: an address of `EMAIL_ADDRESS_MAX` characters, each up to 4 bytes of UTF-8,
fits with room to spare; a longer one is refused unread."""


@dataclass(frozen=True)
class UnsubscribeClaim:
    """What a valid token says: this recipient of this message of this tenant's campaign opts out."""

    tenant_id: UUID
    campaign_id: UUID
    message_id: UUID
    recipient: str


def key_id(secret: str) -> bytes:
    """The id of a secret that tokens carry: not the secret, and says nothing usable about it."""
    return hashlib.sha256(b"sendpool-unsubscribe-key-id:" + secret.encode()).digest()[:_KEY_ID_BYTES]


def _mac(secret: str, signed: bytes) -> bytes:
    return hmac.new(secret.encode(), b"unsubscribe:" + signed, hashlib.sha256).digest()[:_MAC_BYTES]


def unsubscribe_token(claim: UnsubscribeClaim, secret: str) -> str:
    """The token for one recipient of one message, signed with `secret` (the current one)."""
    recipient = claim.recipient.encode()
    ids = claim.tenant_id.bytes + claim.campaign_id.bytes + claim.message_id.bytes
    head = bytes([_VERSION]) + key_id(secret) + ids
    raw = head + _mac(secret, head + recipient) + recipient
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verify_unsubscribe_token(token: str, secrets: Sequence[str]) -> UnsubscribeClaim | None:
    """What the token claims, if one of `secrets` (the current one first, then the previous ones) signed
    it; None for anything else: garbled, forged, tampered, too long, or signed with a retired secret.

    Compared in constant time; the caller learns nothing about why a token was refused."""
    if not token or len(token) > TOKEN_MAX_CHARS or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _HEAD + _MAC_BYTES or raw[0] != _VERSION:
        return None
    head, mac, recipient = raw[:_HEAD], raw[_HEAD : _HEAD + _MAC_BYTES], raw[_HEAD + _MAC_BYTES :]
    token_key = head[1 : 1 + _KEY_ID_BYTES]
    for secret in secrets:
        if hmac.compare_digest(key_id(secret), token_key) and hmac.compare_digest(
            _mac(secret, head + recipient), mac
        ):
            break
    else:
        return None
    try:
        address = recipient.decode("utf-8")
    except UnicodeDecodeError:  # signed by us, so it cannot happen; still never trusted blindly
        return None
    if len(address) > EMAIL_ADDRESS_MAX:
        return None
    ids = head[1 + _KEY_ID_BYTES :]
    return UnsubscribeClaim(
        tenant_id=UUID(bytes=ids[:16]),
        campaign_id=UUID(bytes=ids[16:32]),
        message_id=UUID(bytes=ids[32:48]),
        recipient=address,
    )


def unsubscribe_url(base_url: str, claim: UnsubscribeClaim, secret: str) -> str:
    """`<base URL>/unsubscribe/<token>`: the one-click URL of one recipient of one message."""
    return f"{base_url.rstrip('/')}/unsubscribe/{unsubscribe_token(claim, secret)}"
