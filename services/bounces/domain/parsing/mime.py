"""One bounded walk over a mail: its headers, the text of its parts, and the returned original.

Python's `email` package with the compat32 policy parses (it is the most forgiving with broken
mail: missing boundaries, bad encodings and 8-bit headers become defects, not exceptions). Around
it, every size is capped, since the bounce endpoint accepts mail from anyone: only the first
`MAX_MAIL_BYTES` are parsed (the report parts of a bounce come before the returned message), at most
`MAX_PARTS` parts to a depth of `MAX_DEPTH`, each text cut to `MAX_SECTION_CHARS`.
"""

import base64
import binascii
import codecs
import contextlib
import html
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

MAX_MAIL_BYTES = 512 * 1024
MAX_MULTIPARTS = 32
MAX_DELIMITER_LINES = 256
MAX_PARTS = 64
MAX_DEPTH = 6
MAX_SECTION_CHARS = 128 * 1024
MAX_HEADER_CHARS = 2048
MAX_HEADERS = 256
MAX_RAW_TEXT_CHARS = 512 * 1024

FIELD_PART_TYPES = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/feedback-report",
        "message/disposition-notification",
    }
)
"""Parts made of header-like field blocks (RFC 3464, RFC 6533, RFC 5965, RFC 8098)."""
HEADER_PART_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"})
"""Parts that hold only the headers of the returned message."""

_FOLDING = re.compile(r"\r?\n[ \t]+")
_TAGS_DROPPED = re.compile(r"<(style|script)\b[^>]{0,512}>.{0,65536}?</\1\s*>", re.IGNORECASE | re.DOTALL)
_LINE_TAGS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]{0,512}>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]{0,2048}>")


class Headers:
    """Header fields by case-insensitive name, decoded (RFC 2047), unfolded and bounded."""

    def __init__(self, items: Iterable[tuple[str, object]]) -> None:
        self._fields: dict[str, list[str]] = {}
        for count, (name, value) in enumerate(items):
            if count >= MAX_HEADERS:
                break
            self._fields.setdefault(name.strip().lower(), []).append(decoded_header(value))

    def get(self, name: str) -> str:
        values = self._fields.get(name.lower())
        return values[0] if values else ""

    def get_all(self, name: str) -> list[str]:
        return list(self._fields.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields


@dataclass(frozen=True)
class Section:
    """The decoded text of one leaf part."""

    content_type: str
    text: str
    in_original: bool
    """Inside the returned original message (its body or headers), not the report about it."""


@dataclass(frozen=True)
class Mail:
    headers: Headers
    sections: tuple[Section, ...]
    originals: tuple[Headers, ...]
    """The headers of each returned message (message/rfc822, text/rfc822-headers parts)."""
    raw_text: str
    """The start of the raw mail as text, for fields that only a search finds (inline originals)."""

    def readable_texts(self) -> list[str]:
        """What the reporting system wrote for people: text parts outside the returned original."""
        plain = [s.text for s in self.sections if not s.in_original and s.content_type == "text/plain"]
        if any(text.strip() for text in plain):
            return plain
        return [s.text for s in self.sections if not s.in_original and s.content_type == "text/html"]

    def field_sections(self, *content_types: str) -> list[str]:
        return [s.text for s in self.sections if s.content_type in content_types]


def decoded_header(value: object) -> str:
    """RFC 2047 words decoded; raw 8-bit (compat32 hands it over as a `Header` of unknown-8bit
    chunks) read as UTF-8 where it is, else Latin-1, so no byte makes the value unreadable."""
    source = value if isinstance(value, Header) else str(value)[: MAX_HEADER_CHARS * 2]
    text = str(value)[: MAX_HEADER_CHARS * 2]
    with contextlib.suppress(ValueError, LookupError, UnicodeError, AssertionError, TypeError):
        text = "".join(_chunk_text(data, charset) for data, charset in decode_header(source))
    return _FOLDING.sub(" ", text).replace("\r", " ").replace("\n", " ").strip()[:MAX_HEADER_CHARS]


def _chunk_text(data: bytes | str, charset: str | None) -> str:
    if isinstance(data, str):
        return data
    if charset and charset != "unknown-8bit":
        with contextlib.suppress(LookupError, UnicodeError):
            return data.decode(charset, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_mail(raw: bytes) -> Mail:
    """Parse a whole mail; anything the parser cannot take is read as one plain-text body."""
    data = _bounded(raw)
    raw_text = _lf(data[:MAX_RAW_TEXT_CHARS].decode("utf-8", "replace"))
    try:
        message = message_from_bytes(data, policy=compat32)
    except (RecursionError, ValueError, LookupError, UnicodeError, TypeError, IndexError, AttributeError):
        return _unparsed(data, raw_text)
    sections: list[Section] = []
    originals: list[Headers] = []
    try:
        headers = Headers(message.items())
        _walk(message, sections, originals)
    except (RecursionError, ValueError, LookupError, UnicodeError, TypeError, IndexError, AttributeError):
        return _unparsed(data, raw_text)
    return Mail(headers, tuple(sections), tuple(originals), raw_text)


_MULTIPART = re.compile(rb"content-type[ \t]*:[ \t]*(?:\r?\n[ \t]+)?multipart/", re.IGNORECASE)
_DELIMITER = re.compile(rb"^--", re.MULTILINE)


def _bounded(raw: bytes) -> bytes:
    """The part of the mail worth parsing. Beyond the byte cap, the parser's time grows with the
    number of parts and with nesting depth (each line is checked against every open boundary), so
    the mail is also cut before its `MAX_MULTIPARTS`-th multipart and its `MAX_DELIMITER_LINES`-th
    boundary line: a real bounce has a handful of each, and its report parts come first."""
    data = raw[:MAX_MAIL_BYTES]
    if b"\r" in data[:4096] and b"\n" not in data[:4096]:
        # Old Mac line ends (CR only), as some saved mail has: the decoders know only LF and CRLF.
        data = data.replace(b"\r", b"\n")
    for pattern, limit in ((_MULTIPART, MAX_MULTIPARTS), (_DELIMITER, MAX_DELIMITER_LINES)):
        for count, match in enumerate(pattern.finditer(data)):
            if count >= limit:
                data = data[: match.start()]
                break
    return data


def _unparsed(data: bytes, raw_text: str) -> Mail:
    head, _, body = raw_text.partition("\n\n")
    try:
        headers = Headers(HeaderParser(policy=compat32).parsestr(head[:65536], headersonly=True).items())
    except (RecursionError, ValueError, LookupError, UnicodeError, TypeError, IndexError):
        headers = Headers(())
    return Mail(headers, (Section("text/plain", body[:MAX_SECTION_CHARS], False),), (), raw_text)


def _walk(message: Message, sections: list[Section], originals: list[Headers]) -> None:
    """Depth-first, in document order, iterative (a deeply nested mail cannot exhaust the stack)."""
    stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth, in_original = stack.pop()
        seen += 1
        content_type = _content_type(part)
        payload = part.get_payload()
        if content_type in FIELD_PART_TYPES:
            sections.append(Section(content_type, _lf(_field_part_text(part)), in_original))
        elif isinstance(payload, list):
            if depth >= MAX_DEPTH:
                continue
            children = [child for child in payload if isinstance(child, Message)]
            is_returned_message = content_type.startswith("message/")
            if is_returned_message:
                originals.extend(Headers(child.items()) for child in children[:1])
            stack.extend(
                (child, depth + 1, in_original or is_returned_message) for child in reversed(children)
            )
        elif content_type in HEADER_PART_TYPES:
            text = _lf(_leaf_text(part))
            originals.append(parse_headers(text))
            sections.append(Section("text/rfc822-headers", text, True))
        elif content_type.startswith("message/"):
            # A returned message the parser left whole (e.g. encoded): its headers still matter.
            text = _lf(_leaf_text(part))
            originals.append(parse_headers(text))
            sections.append(Section("text/rfc822-headers", text, True))
        elif content_type.startswith("multipart/"):
            # A multipart whose boundary got lost (a broken header): what it holds is still text.
            sections.append(Section("text/plain", _lf(_leaf_text(part)), in_original))
        elif content_type.startswith("text/"):
            text = _lf(_leaf_text(part))
            sections.append(
                Section(
                    content_type, html_to_text(text) if content_type == "text/html" else text, in_original
                )
            )


def _lf(text: str) -> str:
    """One line ending (mail arrives with CRLF, some with bare CR), so line patterns see lines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except (ValueError, IndexError, TypeError, AttributeError):
        return "text/plain"


def _charset_of(part: Message) -> str:
    try:
        charset = part.get_content_charset() or "utf-8"
        codecs.lookup(charset)
    except (LookupError, ValueError, TypeError):
        return "utf-8"
    return charset


def _leaf_text(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, binascii.Error):
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload[:MAX_SECTION_CHARS] if isinstance(payload, str) else ""
    data = data[: MAX_SECTION_CHARS * 4]
    try:
        text = data.decode(_charset_of(part), "replace")
    except (LookupError, UnicodeError, TypeError):
        text = data.decode("utf-8", "replace")
    return text[:MAX_SECTION_CHARS]


def _field_part_text(part: Message) -> str:
    """The text of a field-block part. compat32 pre-parses these into blocks of headers, which loses
    nothing for plain text; a base64 or quoted-printable one ends up as a headerless block to decode."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return _leaf_text(part)
    lines: list[str] = []
    for block in blocks[:MAX_PARTS]:
        if not isinstance(block, Message):
            continue
        # Field values stay as written: they are not MIME headers (RFC 2047 words are not decoded).
        lines.extend(f"{name}: {_unfolded(value)}" for name, value in block.items()[:MAX_HEADERS])
        body = block.get_payload()
        if isinstance(body, str) and body.strip():
            lines.append(body)
        lines.append("")
    text = "\n".join(lines)[:MAX_SECTION_CHARS]
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(r"\s+", "", text)).decode("utf-8", "replace")[:MAX_SECTION_CHARS]
        except (binascii.Error, ValueError):
            return text
    if encoding == "quoted-printable":
        return quopri.decodestring(text.encode("utf-8", "replace")).decode("utf-8", "replace")
    return text


def _unfolded(value: object) -> str:
    return _FOLDING.sub(" ", str(value)[:MAX_HEADER_CHARS]).replace("\r", " ").replace("\n", " ").strip()


def parse_headers(text: str) -> Headers:
    try:
        return Headers(HeaderParser(policy=compat32).parsestr(text[:65536], headersonly=True).items())
    except (RecursionError, ValueError, LookupError, UnicodeError, TypeError, IndexError):
        return Headers(())


def html_to_text(markup: str) -> str:
    text = _TAGS_DROPPED.sub(" ", markup)
    text = _LINE_TAGS.sub("\n", text)
    return html.unescape(_TAG.sub(" ", text))
