"""The new campaign form: what a tenant types, as the scheduler's `POST /campaigns` body.

Inputs are named by their path in that body (`content.subject`), so the scheduler's 422 (a template
error names `content.subject` with its line) lands next to the input it is about.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED = {
    "name": "Give the campaign a name.",
    "list_id": "Choose the list it goes to.",
    "content.from_address": "Enter the address it is sent from.",
    "content.subject": "Enter a subject.",
}
OPTIONAL = ("content.from_name", "content.reply_to", "content.text", "content.html")
FIELDS = (*REQUIRED, *OPTIONAL)


@dataclass(frozen=True)
class CampaignDraft:
    values: dict[str, str]
    """What was typed, by input name, to show the form again."""
    errors: dict[str, str]

    @property
    def valid(self) -> bool:
        return not self.errors

    def body(self) -> dict[str, Any]:
        """The `POST /campaigns` body: blank optional fields left out."""
        content = {
            name.removeprefix("content."): value
            for name, value in self.values.items()
            if name.startswith("content.") and value
        }
        return {"name": self.values["name"], "list_id": self.values["list_id"], "content": content}


def draft_from_form(form: Mapping[str, str]) -> CampaignDraft:
    """The typed values (headers trimmed; bodies as typed) and what is missing. The scheduler checks
    the rest: addresses, header safety, templates against the list's fields."""
    values = {name: str(form.get(name) or "") for name in FIELDS}
    for name in FIELDS:
        if name not in ("content.text", "content.html"):
            values[name] = values[name].strip()
    errors = {name: message for name, message in REQUIRED.items() if not values[name]}
    if not errors and not (values["content.text"].strip() or values["content.html"].strip()):
        errors["content.text"] = "Write the message: a text part, an HTML part, or both."
    return CampaignDraft(values, errors)
