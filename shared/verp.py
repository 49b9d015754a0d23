"""VERP: a Return-Path that names its message, so a bounce can be traced back to what bounced.

Each message goes out with the envelope sender `bounces+<token>@<domain>`. A receiving server
that gives up on the message sends the bounce there, and the bounces service reads the message
id back from the token. The token carries an HMAC, so nobody can make a bounce count against a
message (and its server) by inventing addresses.

The token is the message id and a truncated HMAC-SHA256 of it, in lowercase base32: 30 bytes
make exactly 48 characters with no padding bits, so every character matters, and
`bounces+<token>` (56 characters) stays within the 64 that RFC 5321 allows a local part. The
server id does not fit alongside; the bounces service finds it from the message. Mail systems
may change the case of a local part, so the token is read case-insensitively.
"""

import base64
import binascii
import hashlib
import hmac
from uuid import UUID

VERP_PREFIX = "bounces+"
_MAC_BYTES = 14
_TOKEN_CHARS = 48


def _mac(message_id: UUID, secret: str) -> bytes:
    return hmac.new(secret.encode(), b"verp:" + message_id.bytes, hashlib.sha256).digest()[:_MAC_BYTES]


def verp_token(message_id: UUID, secret: str) -> str:
    raw = message_id.bytes + _mac(message_id, secret)
    return base64.b32encode(raw).decode("ascii").lower()


def verp_address(message_id: UUID, domain: str, secret: str) -> str:
    """The envelope sender (Return-Path) for one message: `bounces+<token>@<domain>`."""
    return f"{VERP_PREFIX}{verp_token(message_id, secret)}@{domain}"


def parse_verp(address: str, secret: str) -> UUID | None:
    """The message id a VERP address was made for; None if it is no VERP address, or forged or garbled.

    The domain is not checked: a server's Return-Path domain may change while its bounces are
    still arriving, and the HMAC alone decides whether the token is ours.
    """
    # Only a whole pair of angle brackets (the SMTP path form) is taken off: anything else around
    # the address, a space included, makes it another address, and so no token of ours.
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local_part, at, _domain = address.rpartition("@")
    if not at or not local_part.isascii() or not local_part.lower().startswith(VERP_PREFIX):
        return None
    token = local_part[len(VERP_PREFIX) :]
    if len(token) != _TOKEN_CHARS:
        return None
    try:
        raw = base64.b32decode(token.upper())
    except (binascii.Error, ValueError):
        return None
    message_id = UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], _mac(message_id, secret)):
        return None
    return message_id
