"""DKIM signatures (RFC 6376) with the server identity's selector and key, made by dkimpy.

Relaxed/relaxed canonicalisation, so that a relay that refolds a header or trims trailing
whitespace does not break the signature. Only headers the message has are signed: listing an
absent one would forbid adding it later, which is not this signer's business to decide.
"""

from dataclasses import replace

import dkim

from services.delivery.domain.identity import InvalidIdentity, SenderIdentity
from services.delivery.domain.mime import OutgoingMessage

SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)

CANONICALIZATION = (b"relaxed", b"relaxed")


def dkim_signed(message: OutgoingMessage, identity: SenderIdentity | None) -> OutgoingMessage:
    """The message with a DKIM-Signature on top when the identity can sign for its From domain;
    otherwise the message as it is. Raises `InvalidIdentity` if dkimpy refuses the key."""
    if identity is None or identity.dkim_selector is None or identity.dkim_private_key is None:
        return message
    domain = identity.signing_domain(message.from_domain)
    if domain is None:
        return message
    headers = [name.lower().encode() for name in SIGNED_HEADERS if name.lower() in message.header_names]
    try:
        signature = dkim.sign(
            message.as_bytes(),
            identity.dkim_selector.encode(),
            domain.encode(),
            identity.dkim_private_key,
            canonicalize=CANONICALIZATION,
            include_headers=headers,
            linesep=b"\r\n",
            signature_algorithm=identity.dkim_algorithm.encode(),
        )
    except dkim.DKIMException as exc:
        raise InvalidIdentity(f"identity.dkim_private_key cannot sign: {exc}") from None
    return replace(message, dkim_signature=signature)
