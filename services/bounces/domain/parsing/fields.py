"""Field blocks (`Name: value` lines, blank-line separated, as in RFC 3464 and RFC 5965) and the
addresses inside field values and prose."""

import re
from collections.abc import Iterable

MAX_LINES = 4000
MAX_VALUE_CHARS = 1000
MAX_ADDRESSES = 32

FieldBlock = dict[str, list[str]]
"""Lower-cased field name → its values in order (a field may repeat, e.g. Original-Rcpt-To)."""

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,63})[ \t]*:[ \t]*(.*)")
_ADDRESS = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~@-])"
    r"([\w!#$%&'*+/=?^`{|}~-][\w.!#$%&'*+/=?^`{|}~-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))+)"
)
_SPACES = re.compile(r"\s+")


def field_blocks(text: str, *, repeatable: Iterable[str] = ()) -> list[FieldBlock]:
    """Split text into field blocks. A field seen twice in one block starts a new block (some
    in-body reports put every recipient's fields together without blank lines), unless named in
    `repeatable`. Lines that are no field are skipped; a line starting with white space continues
    the field before it."""
    keep_repeating = {name.lower() for name in repeatable}
    blocks: list[FieldBlock] = []
    current: FieldBlock = {}
    last: str | None = None
    for line in text.splitlines()[:MAX_LINES]:
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[:1] in (" ", "\t") and last is not None:
            values = current[last]
            values[-1] = (values[-1] + " " + line.strip())[:MAX_VALUE_CHARS]
            continue
        match = _FIELD.match(line)
        if match is None:
            last = None
            continue
        name, value = match.group(1).lower(), match.group(2).strip()[:MAX_VALUE_CHARS]
        if name in current and name not in keep_repeating:
            blocks.append(current)
            current = {}
        current.setdefault(name, []).append(value)
        last = name
    if current:
        blocks.append(current)
    return blocks


def first(block: FieldBlock, *names: str) -> str:
    for name in names:
        for value in block.get(name, ()):
            if value.strip():
                return value.strip()
    return ""


def without_type(value: str) -> str:
    """`rfc822; user@example.com` → `user@example.com`, `smtp; 550 ...` → `550 ...` (RFC 3464 types)."""
    kind, separator, rest = value.partition(";")
    if separator and re.fullmatch(r"[ \t]*[A-Za-z0-9][A-Za-z0-9.+-]{0,31}[ \t]*", kind):
        return rest.strip()
    return value.strip()


def one_line(value: str, limit: int = 500) -> str:
    return _SPACES.sub(" ", value).strip()[:limit]


def address_in(value: str) -> str:
    """The first e-mail address in a value, lower-cased; "" when there is none."""
    match = _ADDRESS.search(value[: MAX_VALUE_CHARS * 4])
    return match.group(1).rstrip(".").lower() if match else ""


def addresses_in(text: str, limit: int = MAX_ADDRESSES) -> list[str]:
    """Every distinct e-mail address in text, in order, lower-cased."""
    found: list[str] = []
    for match in _ADDRESS.finditer(text):
        address = match.group(1).rstrip(".").lower()
        if address not in found:
            found.append(address)
            if len(found) >= limit:
                break
    return found
