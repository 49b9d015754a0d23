"""A composed message taken apart for the JSON APIs (SendGrid, Elastic Email)."""

from datetime import UTC, datetime
from uuid import uuid4

from services.delivery.domain.message_parts import parts_of
from services.delivery.domain.mime import compose
from shared.contracts import MessageContent

CONTENT = MessageContent(
    from_address="news@shop.example",
    from_name="Shop Nëws",
    subject="Spring sale — 20% off",
    text="Everything is 20% off.",
    html="<p>Everything is <b>20%</b> off.</p>",
    reply_to="help@shop.example",
    unsubscribe_url="https://shop.example/unsubscribe?u=42",
)


def test_addresses_subject_and_both_bodies_come_back_decoded():
    message_id = uuid4()
    parts = parts_of(
        compose(message_id, CONTENT, "ada@inbox.example", recipient_name="Ada", now=datetime.now(UTC))
    )

    assert (parts.sender.addr_spec, parts.sender.display_name) == ("news@shop.example", "Shop Nëws")
    assert (parts.recipient.addr_spec, parts.recipient.display_name) == ("ada@inbox.example", "Ada")
    assert parts.reply_to is not None and parts.reply_to.addr_spec == "help@shop.example"
    assert parts.subject == "Spring sale — 20% off"
    assert parts.text is not None and parts.text.strip() == "Everything is 20% off."
    assert parts.html is not None and parts.html.strip() == "<p>Everything is <b>20%</b> off.</p>"


def test_only_headers_the_vendor_does_not_write_itself_are_passed_on():
    message_id = uuid4()
    parts = parts_of(compose(message_id, CONTENT, "ada@inbox.example", now=datetime.now(UTC)))

    assert parts.headers["List-Unsubscribe"] == "<https://shop.example/unsubscribe?u=42>"
    assert parts.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parts.headers["Message-ID"] == f"<{message_id}@shop.example>"
    written_by_vendor = {"from", "to", "subject", "reply-to", "date", "mime-version", "content-type"}
    assert not written_by_vendor & {name.lower() for name in parts.headers}


def test_a_text_only_message_has_no_html_body():
    text_only = CONTENT.model_copy(update={"html": None})

    parts = parts_of(compose(uuid4(), text_only, "ada@inbox.example", now=datetime.now(UTC)))

    assert parts.html is None
    assert parts.text is not None
