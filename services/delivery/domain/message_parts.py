"""A composed message taken apart again, for vendor APIs that build the MIME themselves.

SendGrid and Elastic Email take a sender, a subject, bodies and extra headers as JSON fields,
not a finished message. Headers the vendor writes itself (addresses, MIME structure, the
envelope's Return-Path) or that its re-encoding would invalidate (a DKIM signature: the vendor
signs for its own domain) are left out.
"""

from dataclasses import dataclass
from email.headerregistry import Address

from services.delivery.domain.mime import OutgoingMessage

VENDOR_WRITTEN_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Reply-To",
        "Subject",
        "Date",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Return-Path",
        "DKIM-Signature",
    )
)


@dataclass(frozen=True)
class MessageParts:
    sender: Address
    recipient: Address
    reply_to: Address | None
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    """Every other header, in the message's order, e.g. List-Unsubscribe and Message-ID."""


def parts_of(message: OutgoingMessage) -> MessageParts:
    email = message.email
    text_part = email.get_body(preferencelist=("plain",))
    html_part = email.get_body(preferencelist=("html",))
    reply_to = email["Reply-To"]
    return MessageParts(
        sender=email["From"].addresses[0],
        recipient=email["To"].addresses[0],
        reply_to=reply_to.addresses[0] if reply_to is not None else None,
        subject=str(email["Subject"] or ""),
        text=text_part.get_content() if text_part is not None else None,
        html=html_part.get_content() if html_part is not None else None,
        headers={
            name: str(value) for name, value in email.items() if name.lower() not in VENDOR_WRITTEN_HEADERS
        },
    )
