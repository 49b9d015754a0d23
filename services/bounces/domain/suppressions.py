"""Suppression-list entries as people give them (the API, an import). Pure: no I/O."""

import contextlib
import csv
import io
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from shared.limits import EMAIL_ADDRESS_MAX, REASON_MAX


class BadAddress(ValueError):
    """Not an address that can be suppressed; the message says why."""


def suppression_key(address: str) -> str:
    """How the lists key an address, whoever names it (a person, a DSN, a sent message, a check): lower-cased,
    NFC, the domain's IDNA A-labels decoded, so `Ann@xn--bcher-kva.example` and `ann@Bücher.example` are one
    address. Cheap (the suppression check keys every recipient of every batch) and never raises."""
    local, at, domain = unicodedata.normalize("NFC", address.strip()).rpartition("@")
    domain = domain.lower()
    if "xn--" in domain:
        # Not a valid A-label: kept as written, so that it still matches itself.
        with contextlib.suppress(UnicodeError):
            domain = domain.encode("ascii").decode("idna")
    return f"{local.lower()}{at}{domain}" if at else domain


def normalized_address(text: str) -> str:
    """The address as the lists keep it: checked, then keyed (`suppression_key`)."""
    candidate = text.strip()
    if not candidate:
        raise BadAddress("an address is required")
    if len(candidate) > EMAIL_ADDRESS_MAX:
        raise BadAddress(f"at most {EMAIL_ADDRESS_MAX} characters")
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as invalid:
        raise BadAddress(str(invalid)) from None
    return suppression_key(checked.normalized)


def bounded_reason(text: str | None, default: str) -> str:
    reason = " ".join((text or "").split()) or default
    return reason[:REASON_MAX]


@dataclass(frozen=True)
class ImportRow:
    address: str
    reason: str | None = None


class ImportRefused(ValueError):
    """The import as a whole cannot be read (too many rows, not CSV)."""


def csv_rows(text: str, *, max_rows: int) -> list[ImportRow]:
    """`address[,reason]` per line; a first line `address,...` is a header and skipped."""
    rows: list[ImportRow] = []
    try:
        for line_number, fields in enumerate(csv.reader(io.StringIO(text))):
            if not fields or not "".join(fields).strip():
                continue
            if line_number == 0 and fields[0].strip().lower() in {"address", "email"}:
                continue
            if len(rows) >= max_rows:
                raise ImportRefused(f"at most {max_rows} addresses in one import")
            reason = fields[1] if len(fields) > 1 else None
            rows.append(ImportRow(fields[0], reason))
    except csv.Error as unreadable:
        raise ImportRefused(f"not CSV: {unreadable}") from None
    return rows
