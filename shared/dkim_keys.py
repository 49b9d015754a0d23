"""DKIM private keys: the one place that decides whether a key can sign, and in what form.

The catalog checks a key when a tenant gives it (and shows its public half as the DNS record);
a delivery worker reads the stored key to sign with it. Both go through `parse_dkim_key`, so a
key the catalog accepted is one the worker can use, and their error texts agree.
"""

import base64
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

MIN_RSA_BITS = 1024  # RFC 8301: verifiers may ignore signatures made with shorter RSA keys


@dataclass(frozen=True)
class DkimKey:
    algorithm: Literal["rsa", "ed25519"]
    public_key: str  # the `p=` of the DKIM record: base64 of the public key
    pem: str = field(repr=False)  # the private key, re-encoded as unencrypted PKCS#8 PEM
    signing_key: bytes = field(repr=False)  # the key as dkimpy signs with it

    @property
    def signature_algorithm(self) -> str:
        """The `a=` of the signature, as dkimpy names it."""
        return "rsa-sha256" if self.algorithm == "rsa" else "ed25519-sha256"


def parse_dkim_key(pem: str) -> DkimKey:
    """Read a PEM private key that DKIM can sign with.

    Raises ValueError with a text that completes "the key ..." and never echoes the key.
    """
    # Keys pasted from elsewhere may have CRLF line ends; dkimpy finds the PEM armour by LF.
    normalized = pem.strip().replace("\r\n", "\n").encode()
    try:
        key = serialization.load_pem_private_key(normalized, password=None)
    except TypeError:
        raise ValueError(
            "is encrypted with a passphrase; give it unencrypted (it is stored encrypted)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            "is not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"
        ) from None
    canonical = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"is an RSA key of {key.key_size} bits; DKIM needs at least 1024 (2048 is usual)"
            )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return DkimKey("rsa", base64.b64encode(public).decode(), canonical.decode(), canonical)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return DkimKey(
            "ed25519", base64.b64encode(public).decode(), canonical.decode(), base64.b64encode(seed)
        )
    raise ValueError(
        f"is an {type(key).__name__.removeprefix('_')} key; DKIM signs with RSA or Ed25519 keys only"
    )
