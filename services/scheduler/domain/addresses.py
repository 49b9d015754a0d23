"""A fast check of a recipient's address, the same for the JSON API and the CSV import.

`email-validator` (behind the API's `EmailStr`) takes tens of microseconds an address: too slow for a
million-row import. This check is a regular expression over the common ASCII form of an address
(RFC 5322 dot-atom local part, LDH domain labels with at least one dot), which the JSON API applies
on top of `EmailStr`, so that an address either route accepts is one the other accepts too."""

import re

from shared.limits import EMAIL_ADDRESS_MAX

LOCAL_PART_MAX = 64
"""RFC 5321's limit on the part before the `@`, which email-validator enforces too."""

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+{_TOP_LABEL}")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u00a0]")

REASONS: dict[str, str] = {
    "email_missing": "no address",
    "email_too_long": f"the address is longer than {EMAIL_ADDRESS_MAX} characters",
    "email_bad_characters": "the address contains a space or a control character",
    "email_no_domain_dot": "the address has no domain with a dot after its '@'",
    "email_bad_syntax": "not an address of the form local-part@domain.tld (ASCII letters, digits, . and ! # $ % & ' * + / = ? ^ _ ` { | } ~ -)",
}
"""Why an address is refused, by the code an import report counts it under."""


def address_refusal(address: str) -> str | None:
    """The reason `address` is refused (a key of `REASONS`), or None when it is accepted."""
    if not address:
        return "email_missing"
    if len(address) > EMAIL_ADDRESS_MAX:
        return "email_too_long"
    if _ADDRESS.fullmatch(address):
        # The common case first: one regular expression and a length decide it.
        return None if address.index("@") <= LOCAL_PART_MAX else "email_bad_syntax"
    if _SPACE_OR_CONTROL.search(address):
        return "email_bad_characters"
    at = address.rfind("@")
    if at > 0 and "." not in address[at + 1 :]:
        return "email_no_domain_dot"
    return "email_bad_syntax"


def normalized_address(address: str) -> str:
    """`address` with its domain in lower case, as `EmailStr` stores it: domains are case-insensitive,
    local parts are kept as written."""
    at = address.rindex("@")
    domain = address[at + 1 :]
    return address if domain.islower() else address[: at + 1] + domain.lower()
