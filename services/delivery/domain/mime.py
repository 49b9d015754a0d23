"""The RFC 5322 message a recipient receives, built from a campaign's content for one recipient.

Built with the standard library's `EmailMessage` and its SMTP policy, which fold and encode
headers correctly (non-ASCII names and subjects become encoded words). Bodies are encoded to
7-bit (quoted-printable) so that the message passes through servers without 8BITMIME.

The part every recipient of a content shares (From, Subject, Reply-To, List-Unsubscribe, the
MIME structure and bodies) is written once per content; per recipient only To, Date,
Message-ID and the sendpool id are written, through the same policy.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cached_property, lru_cache
from uuid import UUID

import idna

from shared.contracts import MessageContent

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
) -> OutgoingMessage:
    """The message for one recipient. Raises `InvalidMessage` naming the field that makes it unsafe.

    A campaign sends one content to many recipients, so everything but the recipient's own
    headers is built once per content (see `_campaign_part`); building a whole `EmailMessage`
    per recipient cost most of a delivery worker's time.
    """
    campaign = _campaign_part(
        content.from_address,
        content.from_name,
        content.subject,
        content.reply_to,
        content.unsubscribe_url,
        content.text,
        content.html,
    )
    to_address, to_line = _to_line(recipient, recipient_name)
    own_headers = b"".join(
        (
            campaign.from_line,
            to_line,
            f"Date: {format_datetime(now)}\r\n".encode("ascii"),
            campaign.message_id_line(message_id),
            f"{SENDPOOL_ID_HEADER}: {message_id}\r\n".encode("ascii"),
        )
    )
    return OutgoingMessage(
        message_id=message_id,
        envelope_from=campaign.sender.addr_spec,
        recipient=to_address,
        from_address=campaign.sender.addr_spec,
        content=own_headers + campaign.rest,
    )
