"""Personalized messages (`compose` with templates): each recipient's subject, bodies and one-click
link, written into a skeleton built once per content; a recipient whose rendering fails fails alone."""

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from uuid import uuid4

import pytest

from services.delivery.domain.mime import PersonalizationFailed, compose
from shared.contracts import MessageContent

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LINK = "https://unsubscribe.example/unsubscribe/AbC-_123"
CONTENT = MessageContent(
    from_address="news@shop.example",
    from_name="Shop News",
    subject="{{ first_name }}, {{ plan | default('free') }}",
    text="Grüße {{ name }} = {{ plan }}\n.leading dot\n" + "long line " * 20 + "\n{{ unsubscribe_url }}\n",
    html='<p>{{ name }}</p><a href="{{ unsubscribe_url }}">x</a>',
    reply_to="help@shop.example",
    unsubscribe_url="https://shop.example/u/42",
)


def parsed(content: MessageContent = CONTENT, name: str = "Jörg Müller", **fields: str):
    message = compose(
        uuid4(),
        content,
        "jorg@inbox.example",
        recipient_name=name,
        now=NOW,
        unsubscribe_url=LINK,
        fields=fields,
    )
    return message_from_bytes(message.content, policy=default_policy), message


def test_each_part_is_rendered_and_decodes_back_exactly():
    email, message = parsed(plan="gold")
    assert email["Subject"] == "Jörg, gold"
    text = (
        email.get_body(("plain",)).get_content().replace("\r\n", "\n")
    )  # as for any message read from bytes
    assert text == "Grüße Jörg Müller = gold\n.leading dot\n" + "long line " * 20 + f"\n{LINK}\n"
    html = email.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html == f'<p>Jörg Müller</p><a href="{LINK}">x</a>\n'
    assert email["Reply-To"] == "help@shop.example" and email["To"] == "Jörg Müller <jorg@inbox.example>"
    bodies = message.content.partition(b"\r\n\r\n")[2]
    assert max(len(line) for line in bodies.split(b"\r\n")) <= 78, "bodies are folded"
    assert message.content.isascii()


def test_the_recipients_own_link_replaces_the_contents_in_the_header():
    email, _ = parsed()
    assert email["List-Unsubscribe"] == f"<{LINK}>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(email.get_all("List-Unsubscribe")) == 1


def test_content_without_templates_keeps_the_shared_part_and_gets_the_link():
    plain = MessageContent(from_address="news@shop.example", subject="Sale", text="Hello", html="")
    email, _ = parsed(plain)
    assert (email["Subject"], email.get_content().strip()) == ("Sale", "Hello")
    assert email["List-Unsubscribe"] == f"<{LINK}>"


@pytest.mark.parametrize(
    "fields",
    [
        {"first_name": "Eve\r\nBcc: victim@else.example"},
        {"first_name": "=?utf-8?q?=0D=0ABcc:_victim@else.example?="},
    ],
)
def test_a_subject_that_would_break_its_header_fails_this_recipient(fields):
    try:
        email, message = parsed(**fields)
    except PersonalizationFailed as failed:
        assert "subject" in str(failed).lower()
        return
    # An encoded word is kept as text: it must not become a header of its own.
    assert email["Bcc"] is None and b"\r\nBcc:" not in message.content


def test_a_template_that_cannot_compile_fails_with_personalization_failed():
    broken = CONTENT.model_copy(update={"subject": "{{ ''.__class__ }}"})
    with pytest.raises(PersonalizationFailed, match="attribute access"):
        parsed(broken)
