"""The new campaign form: the typed values as the scheduler's body, and what is missing."""

from services.console.domain.campaign_form import draft_from_form

FILLED = {
    "name": " spring sale ",
    "list_id": "5d3c2b1a-0000-4000-8000-000000000001",
    "content.from_address": "news@shop.example",
    "content.from_name": "",
    "content.reply_to": "",
    "content.subject": "Hello {{ first_name }}",
    "content.text": "  Hi,\n\nour spring sale starts today.\n",
    "content.html": "",
}


def test_a_filled_form_is_the_schedulers_body_without_blank_optional_parts():
    draft = draft_from_form(FILLED)
    assert draft.valid
    assert draft.body() == {
        "name": "spring sale",
        "list_id": "5d3c2b1a-0000-4000-8000-000000000001",
        "content": {
            "from_address": "news@shop.example",
            "subject": "Hello {{ first_name }}",
            # Bodies are kept as typed: leading spaces and blank lines may be meant.
            "text": "  Hi,\n\nour spring sale starts today.\n",
        },
    }


def test_each_missing_required_field_is_named_by_its_input():
    draft = draft_from_form({"content.text": "hi"})
    assert set(draft.errors) == {"name", "list_id", "content.from_address", "content.subject"}
    assert not draft.valid


def test_a_message_needs_a_text_or_an_html_part():
    draft = draft_from_form({**FILLED, "content.text": "   "})
    assert draft.errors == {"content.text": "Write the message: a text part, an HTML part, or both."}
    assert draft_from_form({**FILLED, "content.text": "", "content.html": "<p>hi</p>"}).valid
