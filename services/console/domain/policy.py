"""A campaign's sending policy as the console's form holds it: "use all my servers", or a weight per
server; checked here before the catalog is asked, and the catalog's own refusals put back by field.

A weight is a whole number from 0 to `WEIGHT_MAX`; 0 (or blank) leaves the server out of the
selection (the catalog takes only weights above 0). A narrowed policy needs at least one weight above 0.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.console.domain.shares import percentages

WEIGHT_MAX = 1000
SELECTION_FIELD = "selection"
"""The key of an error about the selection as a whole (rather than one server's weight)."""

_API_ENTRY = re.compile(r"^selection\.(\d+)(?:\.\w+)?$")


@dataclass(frozen=True)
class PolicyForm:
    """What was submitted (or loaded): `weights` per server id (as text), and what each parsed to."""

    use_all: bool
    raw: dict[str, str]
    weights: dict[str, int]
    """Each server's weight, 0 where blank or not a valid number."""
    errors: dict[str, str] = field(default_factory=dict)
    """Per server id, or `SELECTION_FIELD`: a sentence for the person."""

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def selection(self) -> list[tuple[str, int]]:
        """The servers to send through, in form order: those with a weight above 0."""
        return [(server_id, weight) for server_id, weight in self.weights.items() if weight > 0]

    @property
    def shares(self) -> dict[str, float]:
        """Each server's share of the selection in percent (all 0 when nothing is weighted)."""
        return percentages(self.weights)

    def body(self) -> dict[str, Any]:
        """The catalog's `PolicyUpdate`: a narrowed selection, or every server (no selection)."""
        if self.use_all:
            return {"use_all": True, "selection": []}
        return {
            "use_all": False,
            "selection": [{"server_id": server_id, "weight": weight} for server_id, weight in self.selection],
        }


def parse_weight(raw: str | None) -> tuple[int, str | None]:
    """`raw` as a weight: blank is 0; anything but a whole number from 0 to `WEIGHT_MAX` is an error."""
    text = (raw or "").strip()
    if not text:
        return 0, None
    if not re.fullmatch(r"\d{1,7}", text):
        return 0, f"Enter a whole number from 0 to {WEIGHT_MAX}."
    value = int(text)
    if value > WEIGHT_MAX:
        return 0, f"At most {WEIGHT_MAX}."
    return value, None


def parse_policy(use_all: bool, raw_weights: Mapping[str, str], *, strict: bool = True) -> PolicyForm:
    """The form's policy. `strict` (on save) also requires a weight above 0 when narrowed; a preview
    shows the shares of what is there without that complaint."""
    weights: dict[str, int] = {}
    errors: dict[str, str] = {}
    for server_id, raw in raw_weights.items():
        weight, error = parse_weight(raw)
        weights[server_id] = weight
        if error and not use_all:
            errors[server_id] = error
    if strict and not use_all and not errors and not any(weight > 0 for weight in weights.values()):
        errors[SELECTION_FIELD] = (
            "Give at least one server a weight above 0, or choose to use all your servers."
        )
    return PolicyForm(use_all=use_all, raw=dict(raw_weights), weights=weights, errors=errors)


def loaded_policy(policy: Mapping[str, Any], server_ids: Sequence[str]) -> PolicyForm:
    """The form for the catalog's `SendingPolicy`: weights of the selected servers, 0 for the others
    (the form's default for a server newly narrowed to is blank)."""
    chosen = {str(entry["server_id"]): entry["weight"] for entry in policy.get("selection", [])}
    raw = {
        server_id: _weight_text(chosen[server_id]) if server_id in chosen else "" for server_id in server_ids
    }
    # A selected server no longer listed (deleted, or its grant withdrawn) stays visible in the form.
    for server_id, weight in chosen.items():
        raw.setdefault(server_id, _weight_text(weight))
    return parse_policy(bool(policy.get("use_all", True)), raw, strict=False)


def _weight_text(weight: float) -> str:
    return str(int(weight)) if float(weight).is_integer() else f"{weight:g}"


def api_field_errors(fields: Mapping[str, str], sent: PolicyForm) -> dict[str, str]:
    """The catalog's 422 (`selection.1.server_id: …`) keyed as the form's: by the server id at that
    position of the selection sent, else on the selection as a whole."""
    selection = sent.selection
    errors: dict[str, str] = {}
    for path, message in fields.items():
        found = _API_ENTRY.match(path)
        if found and int(found.group(1)) < len(selection):
            errors.setdefault(selection[int(found.group(1))][0], message)
        else:
            errors.setdefault(SELECTION_FIELD, message)
    return errors
