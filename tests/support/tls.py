"""A test CA (trustme) for the local https stand-ins of vendors and Google.

Delivery verifies every https certificate; the fakes get one from this CA, for `127.0.0.1` and
`localhost`, and delivery is pointed at the CA's certificate (`tls_ca_file`, or
`SENDPOOL_DELIVERY_TLS_CA_FILE` for a worker process), as an operator points it at a private CA.
One CA for the whole test process, so that every fake and every worker agree on it.
"""

import functools
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class ServerCertificate:
    certificate_file: str
    """The server's certificate followed by the chain up to the CA (PEM)."""
    key_file: str


@functools.cache
def _ca() -> trustme.CA:
    return trustme.CA(organization_name="sendpool tests")


@functools.cache
def _directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="sendpool-test-ca-"))


@functools.cache
def ca_file() -> str:
    """The CA's certificate (PEM): what delivery must trust to talk to the fakes."""
    path = _directory() / "ca.pem"
    _ca().cert_pem.write_to_path(str(path))
    return str(path)


@functools.cache
def server_certificate() -> ServerCertificate:
    """A certificate for the fakes, valid for 127.0.0.1, ::1 and localhost."""
    issued = _ca().issue_cert("127.0.0.1", "::1", "localhost")
    certificate, key = _directory() / "server.pem", _directory() / "server.key"
    with certificate.open("wb") as chain:
        for pem in issued.cert_chain_pems:
            chain.write(pem.bytes())
    issued.private_key_pem.write_to_path(str(key))
    return ServerCertificate(str(certificate), str(key))


def client_context() -> ssl.SSLContext:
    """A verifying client context that trusts the test CA (for a test's own requests to a fake)."""
    return ssl.create_default_context(cafile=ca_file())
