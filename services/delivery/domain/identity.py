"""Who a server sends as: the domains it may put in From, its DKIM key, its Return-Path domain.

The catalog hands the identity over with a server's connection settings, under `identity`.
It is read defensively: a server without one, or without a DKIM selector and key, simply sends
unsigned with the From domain as Return-Path domain. What is there must be usable, though: a
domain or selector that could break a header or an SMTP command, or a key that cannot sign,
makes the identity invalid rather than quietly ignored.
"""

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
_SELECTOR = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,62})$", re.IGNORECASE)


class InvalidIdentity(ValueError):
    """The identity's settings cannot be used as they are; the message names the field."""


@dataclass(frozen=True)
class SenderIdentity:
    from_domains: tuple[str, ...] = ()
    dkim_selector: str | None = None
    dkim_private_key: bytes | None = field(default=None, repr=False)
    """As dkimpy takes it: PEM for RSA, the base64 of the 32-byte seed for Ed25519."""
    dkim_algorithm: str = "rsa-sha256"
    """The signature's `a=`: `rsa-sha256`, or `ed25519-sha256` (RFC 8463)."""
    return_path_domain: str | None = None

    @property
    def signs(self) -> bool:
        return self.dkim_selector is not None and self.dkim_private_key is not None

    def signing_domain(self, from_domain: str) -> str | None:
        """The `d=` for a message From `from_domain`: the listed domain it is or belongs to.

        The key is published under the listed domains only (`<selector>._domainkey.<domain>`),
        so a From domain outside them gets no signature that could only fail verification.
        With no domains listed, the key is taken to be published for the From domain itself.
        """
        if not self.signs:
            return None
        domain = from_domain.lower().rstrip(".")
        if not self.from_domains:
            return domain
        matching = [
            listed for listed in self.from_domains if domain == listed or domain.endswith(f".{listed}")
        ]
        return max(matching, key=len) if matching else None


def identity_from_settings(settings: dict[str, Any]) -> SenderIdentity | None:
    """The identity in a server's settings, None when it has none. Raises `InvalidIdentity`."""
    raw = settings.get("identity")
    if not isinstance(raw, dict):
        return None
    from_domains = raw.get("from_domains") or []
    if not isinstance(from_domains, list):
        raise InvalidIdentity("identity.from_domains must be a list of domains")
    selector = _text(raw, "dkim_selector")
    key = _text(raw, "dkim_private_key")
    return_path_domain = _text(raw, "return_path_domain")
    if selector is not None and not _SELECTOR.match(selector):
        raise InvalidIdentity(f"identity.dkim_selector {selector!r} is not a DNS label")
    algorithm, signing_key = (
        _signing_key(key) if key is not None and selector is not None else ("rsa-sha256", None)
    )
    return SenderIdentity(
        from_domains=tuple(_domain("identity.from_domains", value) for value in from_domains),
        # A selector without a key (or the reverse) signs nothing; the catalog refuses either alone.
        dkim_selector=selector if key is not None else None,
        dkim_private_key=signing_key,
        dkim_algorithm=algorithm,
        return_path_domain=None
        if return_path_domain is None
        else _domain("identity.return_path_domain", return_path_domain),
    )


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidIdentity(f"identity.{name} must be a string")
    return value.strip()


def _domain(field_name: str, value: object) -> str:
    domain = value.lower().rstrip(".") if isinstance(value, str) else ""
    if not _DOMAIN.match(domain) or len(domain) > 253:
        raise InvalidIdentity(f"{field_name}: {value!r} is not a domain name")
    return domain


def _signing_key(pem: str) -> tuple[str, bytes]:
    """The DKIM algorithm and the key as dkimpy signs with it."""
    # dkimpy finds the key between the PEM armour lines by LF; keys pasted from elsewhere may have CRLF.
    normalized = pem.replace("\r\n", "\n").encode()
    try:
        key = serialization.load_pem_private_key(normalized, password=None)
    except (TypeError, ValueError) as exc:
        raise InvalidIdentity("identity.dkim_private_key is not an unencrypted PEM private key") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-sha256", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return "ed25519-sha256", base64.b64encode(seed)
    raise InvalidIdentity(
        f"identity.dkim_private_key is an {type(key).__name__.lstrip('_')}; DKIM signs with RSA or "
        "Ed25519 keys only"
    )
