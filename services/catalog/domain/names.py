"""Names that end up in SMTP commands, mail headers, DNS queries or URLs, validated so that none can break them.

Each check says what is wrong in words a person can act on, and refuses CR, LF and NUL first:
those are what would let a value inject a header or an SMTP command.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.limits import HOST_MAX

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+[A-Za-z][A-Za-z0-9-]{{0,61}}[A-Za-z0-9]$")
_SELECTOR = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def refuse_header_breaking(value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain CR, LF or NUL characters")
    return value


def refuse_whitespace(value: str) -> str:
    # A host with whitespace could smuggle extra words into an SMTP conversation or a URL.
    refuse_header_breaking(value)
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain whitespace")
    return value


def _domain_name(value: str) -> str:
    refuse_whitespace(value)
    if len(value) > 253 or not _DOMAIN.match(value):
        raise ValueError("must be a domain name such as example.com")
    return value.lower()


def _dkim_selector(value: str) -> str:
    refuse_whitespace(value)
    if len(value) > 63 or not _SELECTOR.match(value):
        raise ValueError("must be one or more DNS labels (letters, digits, hyphens), e.g. s2026")
    return value


Token = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(refuse_whitespace)]
"""An identifier without whitespace: a user name, a key id, a client id."""

HostName = Annotated[str, Field(min_length=1, max_length=HOST_MAX), AfterValidator(refuse_whitespace)]
"""A host name or an IP address."""

DomainName = Annotated[
    str, Field(max_length=HOST_MAX, examples=["example.com"]), AfterValidator(_domain_name)
]
"""A fully qualified domain name, lower-cased."""

DkimSelector = Annotated[str, Field(max_length=63, examples=["s2026"]), AfterValidator(_dkim_selector)]

Port = Annotated[int, Field(ge=1, le=65535)]

HeaderSafeText = Annotated[str, AfterValidator(refuse_header_breaking)]
"""Free text that may go into a header (a name, a reason), so never CR, LF or NUL."""
