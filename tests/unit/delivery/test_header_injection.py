"""Header injection, property-based: whatever text lands in a header field, either the message is
refused with an error naming the field, or it parses back with each header exactly once and no
header that sendpool did not write."""

from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.delivery.domain.mime import InvalidMessage, compose
from shared.contracts import MessageContent, SendRequested

MESSAGE_ID = UUID("0b7f6d4c-2a61-4a8e-9c55-0d1d6c1f7a10")
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

# Line breaks of every kind, header-like text and address punctuation, mixed into arbitrary text.
_NASTY = ["\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", ": ", "Bcc: x@evil.example",
          "\r\nBcc: x@evil.example", "\nX-Injected: 1", "<", ">", ",", ";", '"', "\\", "=?utf-8?q?=0D=0A?=", " ", "\t"]  # fmt: skip
header_text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(_NASTY)), max_size=6).map("".join)

FIELDS = ("subject", "from_name", "recipient_name", "reply_to", "unsubscribe_url")

ALWAYS = {
    "From", "To", "Subject", "Date", "Message-ID", "X-Sendpool-Message-Id",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}  # fmt: skip


def build(subject: str, from_name: str, recipient_name: str, reply_to: str | None, unsubscribe_url: str | None,
          *, validate: bool):  # fmt: skip
    values = {
        "from_address": "news@shop.example",
        "from_name": from_name,
        "subject": subject,
        "text": "Hello",
        "reply_to": reply_to,
        "unsubscribe_url": unsubscribe_url,
    }
    content = MessageContent(**values) if validate else MessageContent.model_construct(**values)
    return compose(MESSAGE_ID, content, "ada@inbox.example", recipient_name=recipient_name, now=NOW)


def assert_headers_intact(data: bytes, *, reply_to: bool, unsubscribe: bool) -> None:
    header_block = data.split(b"\r\n\r\n", 1)[0]
    for line in header_block.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line
    expected = ALWAYS | ({"Reply-To"} if reply_to else set())
    expected |= {"List-Unsubscribe", "List-Unsubscribe-Post"} if unsubscribe else set()
    parsed = message_from_bytes(data, policy=default_policy)
    assert Counter(parsed.keys()) == Counter(expected), parsed.keys()
    assert not any(name.lower() == "bcc" for name in parsed)


@settings(max_examples=300, deadline=None)
@given(
    subject=header_text,
    from_name=header_text,
    recipient_name=header_text,
    reply_to=st.one_of(st.none(), header_text, header_text.map(lambda s: f"help{s}@shop.example")),
    unsubscribe_url=st.one_of(st.none(), header_text.map(lambda s: f"https://shop.example/u/{s}")),
    validate=st.booleans(),
)
@example(
    subject="Hi\r\nBcc: x@evil.example", from_name="", recipient_name="", reply_to=None, unsubscribe_url=None,
    validate=False,
)  # fmt: skip
@example(
    subject="Hi", from_name="", recipient_name="Ada\nBcc: x@evil.example", reply_to=None, unsubscribe_url=None,
    validate=False,
)  # fmt: skip
def test_header_values_are_refused_or_cannot_inject(subject, from_name, recipient_name, reply_to, unsubscribe_url,
                                                    validate):  # fmt: skip
    try:
        message = build(subject, from_name, recipient_name, reply_to, unsubscribe_url, validate=validate)
    except ValidationError as refused:
        # The contract names the field and the reason.
        [error] = refused.errors()[:1]
        assert error["loc"][0] in FIELDS
        return
    except InvalidMessage as refused:
        # The builder names the header.
        named = str(refused).split(" ")[0]
        assert named in {"Subject", "From", "To", "Reply-To", "List-Unsubscribe"}, str(refused)
        return

    assert_headers_intact(message.as_bytes(), reply_to=bool(reply_to), unsubscribe=bool(unsubscribe_url))
    assert "\r" not in message.recipient and "\n" not in message.recipient
    assert "\r" not in message.envelope_from and "\n" not in message.envelope_from


@settings(max_examples=200, deadline=None)
@given(
    value=header_text.filter(lambda s: any(ch in s for ch in "\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"))
)
def test_the_contracts_refuse_line_breaks_and_nul_in_every_header_field(value):
    send = {
        "message_id": MESSAGE_ID,
        "tenant_id": MESSAGE_ID,
        "campaign_id": MESSAGE_ID,
        "run_id": MESSAGE_ID,
        "recipient": "ada@inbox.example",
        "content": {"from_address": "news@shop.example", "subject": "Hi"},
    }
    for field in ("subject", "from_name", "reply_to", "unsubscribe_url", "from_address"):
        try:
            SendRequested.model_validate({**send, "content": {**send["content"], field: value}})
        except ValidationError as refused:
            assert refused.errors()[0]["loc"] == ("content", field)
            assert "must not contain CR, LF or NUL characters" in refused.errors()[0]["msg"]
        else:
            raise AssertionError(f"content.{field} accepted {value!r}")
    for field in ("recipient", "recipient_name"):
        try:
            SendRequested.model_validate({**send, field: value})
        except ValidationError as refused:
            assert refused.errors()[0]["loc"] == (field,)
        else:
            raise AssertionError(f"{field} accepted {value!r}")


@pytest.mark.parametrize("field", ["subject", "from_name", "recipient_name"])
def test_an_encoded_word_hiding_crlf_is_refused_although_the_contract_lets_it_through(field):
    # CVE-2024-6923: the email package of Python < 3.11.10 writes the CR LF this decodes to as a real one.
    values = {
        "subject": "Hi",
        "from_name": "",
        "recipient_name": "",
        field: "=?utf-8?q?=0D=0A?=Bcc: x@evil.example",
    }

    with pytest.raises(InvalidMessage, match="would be written with a line break that starts a new header"):
        build(**values, reply_to=None, unsubscribe_url=None, validate=True)
