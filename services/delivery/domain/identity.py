"""Who a server sends as: the domains it may put in From, its DKIM key, its Return-Path domain.

The catalog hands the identity over with a server's connection settings (`ServerConnectionSettings.identity`).
A server without one, or without a DKIM selector and key, simply sends unsigned with the From
domain as Return-Path domain. What is there must be usable, though: a domain or selector that
could break a header or an SMTP command, or a key that cannot sign, makes the identity invalid
rather than quietly ignored.
"""

import re
from dataclasses import dataclass, field

from shared.contracts import ServerIdentitySettings
from shared.dkim_keys import DkimKey, parse_dkim_key

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


def identity_from_settings(identity: ServerIdentitySettings | None) -> SenderIdentity | None:
    """The identity a server's settings give, None when they give none. Raises `InvalidIdentity`."""
    if identity is None:
        return None
    selector = _present(identity.dkim_selector)
    key = _present(identity.dkim_private_key)
    return_path_domain = _present(identity.return_path_domain)
    if selector is not None and not _SELECTOR.match(selector):
        raise InvalidIdentity(f"identity.dkim_selector {selector!r} is not a DNS label")
    # A selector without a key (or the reverse) signs nothing; the catalog refuses either alone.
    dkim_key = _dkim_key(key) if selector is not None and key is not None else None
    return SenderIdentity(
        from_domains=tuple(_domain("identity.from_domains", value) for value in identity.from_domains),
        dkim_selector=selector if dkim_key is not None else None,
        dkim_private_key=dkim_key.signing_key if dkim_key is not None else None,
        dkim_algorithm=dkim_key.signature_algorithm if dkim_key is not None else "rsa-sha256",
        return_path_domain=None
        if return_path_domain is None
        else _domain("identity.return_path_domain", return_path_domain),
    )


def _present(value: str | None) -> str | None:
    """The value without surrounding blanks; None for a blank one, which counts as absent."""
    return (value.strip() or None) if value is not None else None


def _domain(field_name: str, value: str) -> str:
    domain = value.lower().rstrip(".")
    if not _DOMAIN.match(domain) or len(domain) > 253:
        raise InvalidIdentity(f"{field_name}: {value!r} is not a domain name")
    return domain


def _dkim_key(pem: str) -> DkimKey:
    try:
        return parse_dkim_key(pem)
    except ValueError as exc:  # its text completes "the key ..." and never echoes the key
        raise InvalidIdentity(f"identity.dkim_private_key {exc}") from None
