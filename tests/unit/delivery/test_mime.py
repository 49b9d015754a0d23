"""Building the RFC 5322 message: headers, parts, CRLF line endings, and refusal of header injection."""

import string
from datetime import UTC, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.delivery.domain.mime import SMTP_POLICY, InvalidMessage, _to_line, compose
from shared.contracts import MessageContent

MESSAGE_ID = UUID("0b7f6d4c-2a61-4a8e-9c55-0d1d6c1f7a10")
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CONTENT = MessageContent(
    from_address="news@shop.example",
    from_name="Shop News",
    subject="Spring sale",
    text="Everything is 20% off.\n.A line that starts with a dot\n",
    html="<p>Everything is 20% off.</p>",
    reply_to="help@shop.example",
    unsubscribe_url="https://shop.example/u/42",
)


def build(content: MessageContent = CONTENT, recipient: str = "ada@inbox.example", **kwargs):
    return compose(MESSAGE_ID, content, recipient, now=NOW, **kwargs)


def parsed(content: MessageContent = CONTENT, **kwargs):
    return message_from_bytes(build(content, **kwargs).as_bytes(), policy=default_policy)


def test_every_line_ends_with_crlf():
    data = build().as_bytes()

    assert data.count(b"\r\n") > 10
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")


def test_headers():
    email = parsed(recipient_name="Ada Lovelace")

    assert email["From"] == "Shop News <news@shop.example>"
    assert email["To"] == "Ada Lovelace <ada@inbox.example>"
    assert email["Subject"] == "Spring sale"
    assert email["Date"] == "Sun, 01 Mar 2026 09:30:00 +0000"
    assert email["Message-ID"] == f"<{MESSAGE_ID}@shop.example>"
    assert email["Reply-To"] == "help@shop.example"
    assert email["List-Unsubscribe"] == "<https://shop.example/u/42>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["X-Sendpool-Message-Id"] == str(MESSAGE_ID)


def test_envelope_is_the_bare_addresses():
    message = build(recipient_name="Ada Lovelace")

    assert (message.envelope_from, message.recipient) == ("news@shop.example", "ada@inbox.example")


def test_text_and_html_become_alternatives():
    email = parsed()

    assert email.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]
    assert email.get_body(("plain",)).get_content() == CONTENT.text.replace("\n", "\r\n")
    assert email.get_body(("html",)).get_content().strip() == CONTENT.html


def test_html_only_is_a_single_html_part():
    email = parsed(CONTENT.model_copy(update={"text": ""}))

    assert email.get_content_type() == "text/html"


def test_optional_headers_are_left_out_when_not_set():
    email = parsed(CONTENT.model_copy(update={"reply_to": None, "unsubscribe_url": None}))

    assert email["Reply-To"] is None
    assert email["List-Unsubscribe"] is None
    assert email["List-Unsubscribe-Post"] is None


def test_non_ascii_names_subject_and_body_are_encoded_to_seven_bits():
    content = CONTENT.model_copy(
        update={"from_name": "Zoë's Shop", "subject": "Größte Rabatte", "text": "Grüße"}
    )

    data = build(content).as_bytes()
    email = message_from_bytes(data, policy=default_policy)

    assert data.isascii()
    assert email["From"] == "Zoë's Shop <news@shop.example>"
    assert email["Subject"] == "Größte Rabatte"
    assert email.get_body(("plain",)).get_content().strip() == "Grüße"


@pytest.mark.parametrize("field", ["from_address", "from_name", "subject", "reply_to", "unsubscribe_url"])
@pytest.mark.parametrize("character", ["\r", "\n", "\x00"])
def test_header_breaking_characters_in_content_are_refused(field, character):
    # model_construct skips the contract's own validation, as a message from an older producer might.
    content = MessageContent.model_construct(
        **{**CONTENT.model_dump(), field: f"x{character}Bcc: evil@x.example"}
    )

    with pytest.raises(InvalidMessage, match="must not contain CR, LF or NUL"):
        build(content)


@pytest.mark.parametrize(
    ("kwargs", "header"),
    [
        ({"recipient": "ada@inbox.example\r\nBcc: evil@x.example"}, "To"),
        ({"recipient_name": "Ada\nBcc: evil@x.example"}, "To name"),
    ],
)
def test_header_breaking_characters_in_the_recipient_are_refused(kwargs, header):
    with pytest.raises(InvalidMessage, match=f"^{header} must not contain CR, LF or NUL"):
        build(**kwargs)


@pytest.mark.parametrize("address", ["not-an-address", "two@at@signs.example", "nodomain@"])
def test_an_unusable_from_address_is_refused_naming_the_header(address):
    with pytest.raises(InvalidMessage, match="^From address"):
        build(CONTENT.model_copy(update={"from_address": address}))


def test_an_internationalized_from_domain_is_written_as_its_a_label():
    """It used to end in a UnicodeEncodeError while the From line was written: retried, then
    dead-lettered, instead of sent."""
    message = build(CONTENT.model_copy(update={"from_address": "news@Bücher.example"}))
    headers = parsed(CONTENT.model_copy(update={"from_address": "news@Bücher.example"}))

    assert message.envelope_from == message.from_address == "news@xn--bcher-kva.example"
    assert message.from_domain == "xn--bcher-kva.example"
    assert headers["From"].addresses[0].addr_spec == "news@xn--bcher-kva.example"
    assert headers["Message-ID"] == f"<{MESSAGE_ID}@xn--bcher-kva.example>"


def test_an_internationalized_recipient_domain_is_written_as_its_a_label():
    """Not as an encoded word, which no address may hold: `a@=?utf-8?q?b=C3=BCcher?=.example`."""
    message = build(recipient="ada@bücher.example", recipient_name="Ada")

    assert message.recipient == "ada@xn--bcher-kva.example"
    assert b"\r\nTo: Ada <ada@xn--bcher-kva.example>\r\n" in message.as_bytes()


@pytest.mark.parametrize(
    ("update", "recipient", "error"),
    [
        ({"from_address": "news@b\u00fc\u200dcher.example"}, "ada@inbox.example", "^From domain"),
        ({"reply_to": "help@-bücher.example"}, "ada@inbox.example", "^Reply-To domain"),
        ({}, "ada@b\u00fc\u200dcher.example", "^To domain"),
    ],
)
def test_a_domain_that_is_no_internationalized_name_is_refused_naming_the_header(update, recipient, error):
    with pytest.raises(InvalidMessage, match=error):
        build(CONTENT.model_copy(update=update), recipient=recipient)


_ATOM = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=12
)


@given(
    local=st.lists(_ATOM, min_size=1, max_size=3).map(".".join),
    domain=st.lists(
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=2, max_size=3
    ).map(".".join),
    name=st.one_of(st.just(""), st.lists(_ATOM, min_size=1, max_size=4).map(" ".join), st.text(max_size=30)),
)
@settings(max_examples=300, deadline=None)
def test_the_to_line_is_what_the_email_package_writes(local, domain, name):
    """Plain recipients skip the email package's parser: their line must be the one it would write."""
    recipient = f"{local}@{domain}"
    try:
        address, line = _to_line(recipient, name)
    except InvalidMessage:
        return  # refused; what it refuses is the business of the header injection tests
    reference = EmailMessage(policy=SMTP_POLICY)
    reference["To"] = Address(display_name=name, addr_spec=recipient)
    assert line == _written_header(reference.as_bytes(), b"To")
    assert address == recipient


def _written_header(message: bytes, name: bytes) -> bytes:
    """A header as written, with its continuation lines, CRLF-terminated."""
    lines = message.partition(b"\r\n\r\n")[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(name + b":"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i][:1].isspace()), len(lines))
    return b"".join(line + b"\r\n" for line in lines[start:end])


@pytest.mark.parametrize("domain", ["shop.example", f"{'a' * 60}.{'b' * 60}.example"])
def test_the_message_id_line_is_what_the_email_package_writes(domain):
    """Written once-checked per content, then as is per message: it must match the package's line."""
    content = CONTENT.model_copy(update={"from_address": f"news@{domain}"})
    reference = EmailMessage(policy=SMTP_POLICY)
    reference["Message-ID"] = f"<{MESSAGE_ID}@{domain}>"

    written = build(content).as_bytes()

    assert _written_header(written, b"Message-ID") == _written_header(reference.as_bytes(), b"Message-ID")
