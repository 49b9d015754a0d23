"""The RFC 5322 message a recipient receives, built from a campaign's content for one recipient.

Built with the standard library's `EmailMessage` and its SMTP policy, which fold and encode
headers correctly (non-ASCII names and subjects become encoded words). Bodies are encoded to
7-bit (quoted-printable) so that the message passes through servers without 8BITMIME.

The part every recipient of a content shares (From, Subject, Reply-To, the MIME structure and
bodies) is written once per content; per recipient only To, Date, Message-ID, the sendpool id and
the recipient's own one-click List-Unsubscribe link are written, through the same policy. A
personalized content (subject, text or HTML with template syntax: `shared.templates`) is compiled
once and rendered per recipient, and its shared part is then written per recipient too.
"""

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from email import message_from_bytes, policy, quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cached_property, lru_cache
from uuid import UUID

import idna

from shared.contracts import MessageContent
from shared.templates import RenderFailed, TemplateProblem, compile_content, recipient_variables

SMTP_POLICY = policy.SMTP.clone(cte_type="7bit")
"""CRLF line endings, as the SMTP wire format requires."""
_FOLD_AT = SMTP_POLICY.max_line_length
"""Header lines longer than this are folded (by the email package); None: never."""

SENDPOOL_ID_HEADER = "X-Sendpool-Message-Id"

_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""Every character `str.splitlines()` breaks on: the email package refuses a header holding any."""

_BREAK_OUT_OF_HEADER = re.compile(r"\r\n(?![ \t]+\S)|\r(?!\n)|(?<!\r)\n")
"""Within a written header: a line break not followed by folding whitespace and more text, which
would start another header, or end the headers with a blank line, if a reader took it so."""


class InvalidMessage(ValueError):
    """The content cannot become a safe, well-formed message; sending it would never succeed."""


class PersonalizationFailed(InvalidMessage):
    """The content's templates cannot be rendered for this recipient (or compiled at all): this
    recipient's message fails alone, with the reason."""


_PLAIN_URL = re.compile(r"https?://[!#-;=?-~]+")
"""A URL that goes into a header as it is: printable ASCII without space, quotes or angle brackets."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One message ready to hand to a server: the SMTP envelope and the RFC 5322 message."""

    message_id: UUID
    envelope_from: str
    """MAIL FROM, and the Return-Path the receiving server records: where bounces go."""
    recipient: str
    from_address: str
    """The From header's address (not the envelope sender): what vendors check their identities against."""
    content: bytes
    """The message as it goes on the wire: CRLF line endings, 7-bit, without the DKIM signature."""
    dkim_signature: bytes = b""
    """The `DKIM-Signature` header line(s), CRLF-terminated, that go on top of the message."""

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]

    def as_bytes(self) -> bytes:
        return self.dkim_signature + self.content

    @cached_property
    def header_names(self) -> frozenset[str]:
        """The names of the message's headers, lower-cased."""
        head = self.content.partition(b"\r\n\r\n")[0]
        return frozenset(
            line.partition(b":")[0].decode("ascii").lower()
            for line in head.split(b"\r\n")
            if line[:1] not in (b" ", b"\t")  # folded continuation lines
        )

    @cached_property
    def email(self) -> EmailMessage:
        """The message parsed back, for vendor APIs that take its parts rather than its bytes."""
        return message_from_bytes(self.content, policy=SMTP_POLICY)


def _refuse_header_breaking(header: str, value: str) -> str:
    # The contracts already refuse these; a header is where an injection would do harm, so check again.
    if "\x00" in value or not _LINE_BREAKS.isdisjoint(value):
        raise InvalidMessage(f"{header} must not contain CR, LF or NUL characters, nor any other line break")
    return value


def _refuse_injecting_folds(email: EmailMessage) -> None:
    """Check each header as it will be written: continuation lines only, no line starting a header.

    Python before 3.11.10 (CVE-2024-6923) decodes an encoded word such as `=?utf-8?q?=0D=0A?=` in
    a subject or display name while folding, and writes the CR LF it hides as a real line break:
    text that passed every character check would start a header of its own (a Bcc, say).
    """
    for name, value in email.items():
        _checked_fold(name, email.policy.fold(name, value))


def _checked_fold(name: str, folded: str) -> str:
    if _BREAK_OUT_OF_HEADER.search(folded.removesuffix(SMTP_POLICY.linesep)):
        raise InvalidMessage(f"{name} would be written with a line break that starts a new header")
    return folded


def _header_line(name: str, value: str | Address) -> bytes:
    """One header as `EmailMessage` would write it (folded, non-ASCII as encoded words), checked."""
    try:
        # Parsed into a header object first, as `email[name] = value` does, so that it is
        # refolded: 7-bit, with non-ASCII text as encoded words.
        header = SMTP_POLICY.header_store_parse(name, value)[1]
        folded = SMTP_POLICY.fold(name, header)
    except (ValueError, HeaderParseError) as exc:
        raise InvalidMessage(f"{name} cannot be written safely: {exc}") from None
    return _checked_fold(name, folded).encode("ascii")


def _address(header: str, addr_spec: str, display_name: str = "") -> Address:
    _refuse_header_breaking(header, addr_spec)
    _refuse_header_breaking(f"{header} name", display_name)
    local_part, _, domain = addr_spec.rpartition("@")
    if not local_part or not domain:  # checked first: the stdlib parser crashes on "name@"
        raise InvalidMessage(f"{header} address {addr_spec!r} is not of the form name@domain")
    ascii_addr_spec = f"{local_part}@{_ascii_domain(header, domain)}"
    try:
        return Address(display_name=display_name, addr_spec=ascii_addr_spec)
    except (ValueError, HeaderParseError) as exc:
        raise InvalidMessage(f"{header} address {addr_spec!r} is not valid: {exc}") from None


def _ascii_domain(header: str, domain: str) -> str:
    """The domain as it goes into headers and the SMTP envelope: an internationalized name as its
    IDNA A-label (`bücher.example` → `xn--bcher-kva.example`), which every server understands.

    The email package would otherwise write it as an encoded word, which is not allowed in an
    address, and for a From address fail while writing. UTS #46 mapping, as browsers and mail
    clients do, so that `Bücher.example` is the same domain.
    """
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidMessage(
            f"{header} domain {domain!r} is not a valid internationalized domain name: {exc}"
        ) from None


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_PLAIN_NAME = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")


def _to_line(recipient: str, recipient_name: str) -> tuple[str, bytes]:
    """The recipient's address and `To` line.

    Most recipients have a plain ASCII address and name that need no quoting, encoding or folding:
    their line is written as is, which is what the email package would write, without the cost of
    its parser. Anything else (non-ASCII, quotes, specials, a name that looks like an encoded word,
    a long line) goes through the email package and its checks.
    """
    plain_name = not recipient_name or (
        _PLAIN_NAME.fullmatch(recipient_name) is not None and "=?" not in recipient_name
    )
    if plain_name and _PLAIN_ADDRESS.fullmatch(recipient):
        line = f"To: {recipient_name} <{recipient}>\r\n" if recipient_name else f"To: {recipient}\r\n"
        if _FOLD_AT is None or len(line) <= _FOLD_AT:
            return recipient, line.encode("ascii")
    to = _address("To", recipient, recipient_name)
    return to.addr_spec, _header_line("To", to)


@dataclass(frozen=True)
class _CampaignPart:
    """What every recipient of one content gets alike, written once: the From line, and the other
    headers, MIME headers and bodies after the per-recipient headers."""

    sender: Address
    from_line: bytes
    rest: bytes
    plain_message_ids: bool
    """Whether `<uuid@sender domain>` is written as is, so that per message it need not be parsed."""

    def message_id_line(self, message_id: UUID) -> bytes:
        value = f"<{message_id}@{self.sender.domain}>"
        if self.plain_message_ids:
            return f"Message-ID: {value}\r\n".encode("ascii")
        return _header_line("Message-ID", value)


@lru_cache(maxsize=64)
def _campaign_part(
    from_address: str,
    from_name: str,
    subject: str,
    reply_to: str | None,
    unsubscribe_url: str | None,
    text: str | None,
    html: str | None,
) -> _CampaignPart:
    sender = _address("From", from_address, from_name)
    email = EmailMessage(policy=SMTP_POLICY)
    email["Subject"] = _refuse_header_breaking("Subject", subject)
    if reply_to:
        email["Reply-To"] = _address("Reply-To", reply_to)
    if unsubscribe_url:
        email["List-Unsubscribe"] = f"<{_refuse_header_breaking('List-Unsubscribe', unsubscribe_url)}>"
        # RFC 8058: mailbox providers unsubscribe with one POST instead of opening a page.
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    _refuse_injecting_folds(email)

    if html and text:
        email.set_content(text)
        email.add_alternative(html, subtype="html")
    elif html:
        email.set_content(html, subtype="html")
    else:
        email.set_content(text or "")
    # The multipart boundary is drawn once here, so all recipients share it; it only has to be
    # absent from the bodies, which are the same for all of them.
    # Every message id is a UUID of the same length and characters, so one sample tells whether
    # the email package would write any of them unchanged (it would not for a non-ASCII domain).
    sample = f"<{UUID(int=0)}@{sender.domain}>"
    plain_message_ids = _header_line("Message-ID", sample) == f"Message-ID: {sample}\r\n".encode()
    return _CampaignPart(
        sender, _header_line("From", sender), email.as_bytes(policy=SMTP_POLICY), plain_message_ids
    )


def compose(
    message_id: UUID,
    content: MessageContent,
    recipient: str,
    *,
    recipient_name: str = "",
    now: datetime,
    unsubscribe_url: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    """The message for one recipient. Raises `InvalidMessage` naming the field that makes it unsafe,
    `PersonalizationFailed` when its templates cannot be rendered for this recipient.

    A campaign sends one content to many recipients, so everything but the recipient's own
    headers is built once per content (see `_campaign_part`); building a whole `EmailMessage`
    per recipient cost most of a delivery worker's time. A personalized content is the exception:
    its subject and bodies differ per recipient, so they are written per recipient.

    `unsubscribe_url` is the recipient's own one-click link (sendpool's endpoint): it goes into
    `List-Unsubscribe` in place of the content's `unsubscribe_url`, which is written only for a
    message without one of its own (a server's test message).
    """
    shared_unsubscribe = content.unsubscribe_url if unsubscribe_url is None else None
    campaign = _campaign_part(
        content.from_address,
        content.from_name,
        content.subject,
        content.reply_to,
        shared_unsubscribe,
        content.text,
        content.html,
    )
    try:
        templates = compile_content(content.subject, content.text or "", content.html or "")
    except TemplateProblem as problem:
        raise PersonalizationFailed(str(problem)) from None
    if templates.personalized:
        variables = recipient_variables(recipient, recipient_name, fields or {}, unsubscribe_url or "")
        try:
            rendered = templates.render(variables)
            skeleton = _personal_skeleton(
                content.from_address,
                content.from_name,
                content.reply_to,
                shared_unsubscribe,
                bool(content.text),
                bool(content.html),
            )
            campaign = replace(
                campaign, rest=skeleton.fill(rendered.subject, rendered.text or "", rendered.html or "")
            )
        # The content itself passed above: whatever fails now, this recipient's rendering broke.
        except (RenderFailed, InvalidMessage) as exc:
            raise PersonalizationFailed(str(exc)) from None
    to_address, to_line = _to_line(recipient, recipient_name)
    own_headers = b"".join(
        (
            campaign.from_line,
            to_line,
            f"Date: {format_datetime(now)}\r\n".encode("ascii"),
            campaign.message_id_line(message_id),
            f"{SENDPOOL_ID_HEADER}: {message_id}\r\n".encode("ascii"),
            _unsubscribe_lines(unsubscribe_url) if unsubscribe_url else b"",
        )
    )
    return OutgoingMessage(
        message_id=message_id,
        envelope_from=campaign.sender.addr_spec,
        recipient=to_address,
        from_address=campaign.sender.addr_spec,
        content=own_headers + campaign.rest,
    )


def _unsubscribe_lines(url: str) -> bytes:
    """`List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058 one-click) for one recipient's link.

    Sendpool's own link (a base URL and a URL-safe token) is written as it is: the email package would
    turn a long unbreakable URL into encoded words, which no client reads as a URL. RFC 5322 allows a
    line up to 998 characters; the token keeps it far below."""
    line = f"List-Unsubscribe: <{url}>\r\n"
    if _PLAIN_URL.fullmatch(url) is None or len(line) > 998:
        raise InvalidMessage("List-Unsubscribe URL cannot be written safely")
    # RFC 8058: mailbox providers unsubscribe with one POST instead of opening a page.
    return line.encode("ascii") + b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"


_SENTINEL = f"sendpool{secrets.token_hex(12)}"
"""Marks where a personalized part goes in a skeleton: random per process, so no content can hold it."""


@dataclass(frozen=True)
class _PersonalSkeleton:
    """A personalized content's shared part with its subject and bodies left out, written once by the
    email package; per recipient the rendered subject and bodies are encoded into it directly, which
    is about a hundred times cheaper than building an `EmailMessage` per recipient."""

    rest: bytes

    def fill(self, subject: str, text: str, html: str) -> bytes:
        rest = self.rest.replace(_sentinel_line("Subject: ", "subject"), _subject_line(subject), 1)
        rest = rest.replace(_sentinel_line("", "text"), _quoted_printable(text), 1)
        return rest.replace(_sentinel_line("", "html"), _quoted_printable(html), 1)


def _sentinel_line(prefix: str, part: str) -> bytes:
    return f"{prefix}{_SENTINEL}{part}\r\n".encode("ascii")


@lru_cache(maxsize=64)
def _personal_skeleton(
    from_address: str,
    from_name: str,
    reply_to: str | None,
    unsubscribe_url: str | None,
    has_text: bool,
    has_html: bool,
) -> _PersonalSkeleton:
    email = EmailMessage(policy=SMTP_POLICY)
    email["Subject"] = f"{_SENTINEL}subject"
    if reply_to:
        email["Reply-To"] = _address("Reply-To", reply_to)
    if unsubscribe_url:
        email["List-Unsubscribe"] = f"<{_refuse_header_breaking('List-Unsubscribe', unsubscribe_url)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Quoted-printable whatever the text: the bodies are only known per recipient. QP writes every
    # `=` as `=3D`, so no body can contain the multipart boundary (`===…==`) drawn here once.
    if has_html and has_text:
        email.set_content(f"{_SENTINEL}text", cte="quoted-printable")
        email.add_alternative(f"{_SENTINEL}html", subtype="html", cte="quoted-printable")
    elif has_html:
        email.set_content(f"{_SENTINEL}html", subtype="html", cte="quoted-printable")
    else:
        email.set_content(f"{_SENTINEL}text", cte="quoted-printable")
    return _PersonalSkeleton(email.as_bytes(policy=SMTP_POLICY))


_PLAIN_SUBJECT = re.compile(r"[ -~]*")


def _subject_line(subject: str) -> bytes:
    """The Subject line of a rendered subject: as it is when it is short printable ASCII that no reader
    could take for an encoded word, otherwise through the email package (encoded words, folding, checks)."""
    line = f"Subject: {subject}\r\n"
    if (
        _PLAIN_SUBJECT.fullmatch(subject)
        and "=?" not in subject
        and subject.strip() == subject
        and (_FOLD_AT is None or len(line) <= _FOLD_AT)
    ):
        return line.encode("ascii")
    _refuse_header_breaking("Subject", subject)
    return _header_line("Subject", subject)


def _quoted_printable(body: str) -> bytes:
    """A body as the email package's content manager encodes it (UTF-8, quoted-printable, CRLF)."""
    lines = body.encode("utf-8").splitlines()
    normal = (b"\n".join(lines) + b"\n").decode("latin-1")
    encoded = quoprimime.body_encode(normal, SMTP_POLICY.max_line_length or 78)
    return encoded.replace("\n", "\r\n").encode("ascii")
