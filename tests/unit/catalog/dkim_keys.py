"""Private keys for tests, made once per run (RSA generation takes a moment)."""

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def pem(key, private_format=serialization.PrivateFormat.PKCS8, encryption=None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, private_format, encryption or serialization.NoEncryption()
    ).decode()


@cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# cryptography no longer makes RSA keys this short, but it reads them: a key some old setup may still hold.
RSA_512_PEM = """\
-----BEGIN PRIVATE KEY-----
MIIBUwIBADANBgkqhkiG9w0BAQEFAASCAT0wggE5AgEAAkEA0Q+dJBKaOHLnc+AU
RJhaY68voG9loYKBx4Ab6ZFEQS/SkceofS64DTLWY334bsLbdg051zXhUAX6JfYV
c5XtqQIDAQABAkB7LxAQqUVl7Y6joG1Q3dSk2BzgE8N2n0eJHdtUjNwC6/H7lnLo
SLJvbYVWrdl9fEXSUba1eCL03lL6lXMYokVhAiEA8EoK20DHI/3QBNg7gq8TCKWf
nMwYoI5HrCCPvl0vDSMCIQDeut+n2svZe2sqnW3ykjKV/gqXG+GIX7nnZG+H1uIk
wwIgQeW8Zna0Zl10D/ARGfzTdnqddE3Qry913nGrmiRKBAsCICXW3bRoqYUzQIum
30z8pXdyB16QsAo5KR40o/YR/a19AiA6lXwTUxYjY9v1IvdbYxzpi4+5MXSpS7yg
9izs2wEr8w==
-----END PRIVATE KEY-----
"""
